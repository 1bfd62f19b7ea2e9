"""The patients' web channel: the red-flag questions, asked before anything else."""

# Any "oui" shows "Appelez le 15" at once and queues nothing.
RED_FLAG_QUESTIONS = [
    ("thorax", "Une douleur dans la poitrine, qui serre ou irradie dans le bras ou la mâchoire ?"),
    ("respiration", "Une difficulté à respirer, un essoufflement inhabituel ?"),
    ("avc", "Une bouche de travers, un bras ou une jambe qui ne répond plus, du mal à parler ?"),
    ("conscience", "Un malaise avec perte de connaissance, ou des convulsions ?"),
    ("saignement", "Un saignement abondant qui ne s'arrête pas ?"),
    ("enfant", "Un enfant avec de la fièvre et des taches violacées sur la peau ?"),
    ("allergie", "Un gonflement du visage, des lèvres ou de la gorge ?"),
    ("suicide", "Des idées de mettre fin à ses jours ?"),
]

# The slot a patient chose on its public page (interop:public_slot) rides into the web
# form as a signed token: the slot's public id only, no patient data, valid a few hours.
SLOT_TOKEN_SALT = "relais.web.chosen-slot"
SLOT_TOKEN_MAX_AGE = 4 * 3600


def chosen_slot_token(slot) -> str:
    from django.core import signing

    return signing.dumps(str(slot.public_id), salt=SLOT_TOKEN_SALT)


def chosen_slot(token: str, *, cpts, not_before):
    """The public slot of `token` if it is still one this CPTS's web form may carry (open
    to the public, free, starting after `not_before`, a professional of that CPTS), else
    None: a bad, expired or stale token never stops the request, it arrives without a
    slot."""
    from django.core import signing

    from relais.agenda.models import LOCAL_SOURCES, Slot, SlotStatus

    if not token or len(token) > 200:
        return None
    try:
        public_id = signing.loads(token, salt=SLOT_TOKEN_SALT, max_age=SLOT_TOKEN_MAX_AGE)
    except signing.BadSignature:  # SignatureExpired included
        return None
    return (
        Slot.objects.select_related("professional", "practice__commune")
        .filter(
            public_id=public_id,
            for_public=True,
            status=SlotStatus.FREE,
            start__gt=not_before,
            professional__active=True,
            professional__cpts=cpts,
            source__in=LOCAL_SOURCES,  # a partner's mirror is booked at the partner
        )
        .first()
    )

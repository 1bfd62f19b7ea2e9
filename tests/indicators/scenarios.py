"""Known scenarios of the indicator tests: a month in Essonne with every case, and the
SNP91 year of DOMAIN.md."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from relais.agenda.models import SlotStatus
from relais.directory.models import Profession
from relais.orientation.models import Booking, BookingStatus
from relais.regulation.models import Channel, Motif, Request, RequestStatus
from tests import factories as f

PARIS = ZoneInfo("Europe/Paris")
MARCH = {"start": date(2024, 3, 1), "end": date(2024, 3, 31)}


def paris(*args) -> datetime:
    return datetime(*args, tzinfo=PARIS)


def motif(code: str) -> Motif:
    return Motif.objects.get(code=code)


def past_booking(request, professional, *, after_hours, status=BookingStatus.FULFILLED):
    """A booking of the past, written directly (booking_create only books future slots)."""
    start = request.created_at + timedelta(hours=after_hours)
    slot = f.SlotFactory(
        professional=professional,
        start=start,
        status=SlotStatus.FREE if status == BookingStatus.CANCELLED else SlotStatus.BOOKED,
    )
    return Booking.objects.create(request=request, slot=slot, channel="ui", status=status)


def build_march(cpts_a) -> dict:
    """A known month in the Essonne SAS, plus noise outside the period and territory."""
    gp = f.ProfessionalFactory(cpts=cpts_a)
    physio = f.ProfessionalFactory(profession=Profession.KINE, specialty="")
    cancelled_gp = f.ProfessionalFactory()
    blocked_gp = f.ProfessionalFactory()
    later_gp = f.ProfessionalFactory()
    day = paris(2024, 3, 10, 10, 0)

    def req(channel, status, code=None, at=day):
        return f.RequestFactory(
            channel=channel, status=status, motif=motif(code) if code else None, created_at=at
        )

    r1 = req(Channel.PHONE, RequestStatus.DONE, "A03")
    past_booking(r1, gp, after_hours=2)
    r2 = req(Channel.PHONE, RequestStatus.NOSHOW, "A03", day + timedelta(minutes=1))
    past_booking(r2, gp, after_hours=30, status=BookingStatus.NOSHOW)
    r3 = req(Channel.WEB, RequestStatus.DONE, "R05", day + timedelta(minutes=2))
    past_booking(r3, physio, after_hours=60)
    req(Channel.PROFESSIONAL, RequestStatus.REDIRECTED)
    req(Channel.PHONE, RequestStatus.UNPLACED)
    r6 = req(Channel.WEB, RequestStatus.OPEN, "R05")
    past_booking(r6, cancelled_gp, after_hours=5, status=BookingStatus.CANCELLED)
    r7 = req(Channel.PHONE, RequestStatus.BOOKED, "A03", day + timedelta(minutes=3))
    past_booking(r7, gp, after_hours=10, status=BookingStatus.BOOKED)
    # 31 March 23:30 in Paris (21:30 UTC, after the DST change) is inside the period...
    req(Channel.PHONE, RequestStatus.OPEN, "A03", paris(2024, 3, 31, 23, 30))
    # ...but 29 February 23:30 and 1 April 00:10 in Paris are not.
    req(Channel.PHONE, RequestStatus.DONE, "A03", paris(2024, 2, 29, 23, 30))
    req(Channel.WEB, RequestStatus.DONE, "A03", paris(2024, 4, 1, 0, 10))
    # A blocked slot is not "published"; a slot in April is outside the period.
    f.SlotFactory(professional=blocked_gp, start=day, status=SlotStatus.BLOCKED)
    f.SlotFactory(professional=later_gp, start=paris(2024, 4, 1, 9, 0))
    # Another SAS, same period.
    doctor43 = f.ProfessionalFactory(practice_in="43157")
    r43 = f.RequestFactory(
        patient=f.PatientFactory(commune=f.commune("43157")),
        status=RequestStatus.DONE,
        motif=motif("N01"),
        created_at=day,
    )
    past_booking(r43, doctor43, after_hours=100)
    return {"gp": gp, "physio": physio, "r43": r43}


# SNP91, 2022-2023 (DOMAIN.md, "Figures to reproduce").
SNP91_MOTIFS = {
    "A03": 436,  # fever
    "R05": 432,  # cough
    "R21": 313,  # throat
    "H01": 250,  # earache
    "D01": 137,  # abdominal pain
    "D10": 118,  # vomiting
    "N01": 116,  # headache
    "L02": 114,  # back pain
    "S06": 104,  # rash
    "R74": 95,  # cold
}


def build_snp91(sas91) -> None:
    """3,655 requests of the SNP91 year (2022-09-01 to 2023-08-31), bulk-created."""
    motifs = {code: motif(code) for code in [*SNP91_MOTIFS, "A04"]}
    # Each request gets a motif code (or None) and a status, in a fixed order.
    codes = [code for code, n in SNP91_MOTIFS.items() for _ in range(n)]
    codes += ["A04"] * (3655 - 2115 - 1361) + [None] * 1361
    statuses = [RequestStatus.DONE] * 1278 + [RequestStatus.REDIRECTED] * 39
    statuses += [RequestStatus.UNPLACED] * (3655 - len(statuses))
    patient = f.PatientFactory()
    first = paris(2022, 9, 1, 8, 0)
    Request.objects.bulk_create(
        Request(
            reference=f"91-S{i:05d}",
            patient=patient,
            channel=Channel.PHONE if i < 3215 else Channel.WEB,
            motif=motifs[codes[i]] if codes[i] else None,
            status=statuses[(i * 7) % 3655],  # spread statuses over both channels
            sas=sas91,
            created_at=first + timedelta(hours=2 * i),
        )
        for i in range(3655)
    )

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

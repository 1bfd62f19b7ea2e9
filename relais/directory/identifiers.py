"""Django-free checks of the French health identifiers typed or imported by hand.

- RPPS: 11 digits, the last one a Luhn key over the first ten (the "8" FHIR prefix of
  the ANS identifiers is not part of the number).
- ADELI: 9 characters: the département (2 characters, 2A/2B for Corsica), the
  profession (1 digit), a sequence number (5 digits) and a key (1 digit). The key's
  algorithm is not published by the ANS in any document we could reach (ADELI is being
  closed: professionals move to RPPS), so only the structure is checked.
- FINESS: 9 characters, the département (2 characters, 2A/2B) then 6 digits and a Luhn
  key over the first eight (Corsica counted as 20).
- SIRET: 14 digits with a Luhn key; La Poste's establishments (SIREN 356000000) follow
  INSEE's exception: the sum of the 14 digits is a multiple of 5 (either rule accepted).

Each check returns "" when valid, or the French reason."""

import re

_DIGITS = re.compile(r"\d+")


def clean(value: str) -> str:
    """Spaces, dots and dashes dropped (numbers are often typed "100 012 345 67")."""
    return re.sub(r"[\s.\-]", "", value or "").upper()


def luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        n = int(char)
        if index % 2 == 1:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return total % 10 == 0


def luhn_key(digits: str) -> str:
    """The key digit that makes `digits + key` pass the Luhn check."""
    for key in "0123456789":
        if luhn_ok(digits + key):
            return key
    raise AssertionError("unreachable")


def rpps_error(value: str) -> str:
    value = clean(value)
    if not _DIGITS.fullmatch(value) or len(value) != 11:
        return "Le numéro RPPS compte 11 chiffres."
    if not luhn_ok(value):
        return "Numéro RPPS invalide : la clé de contrôle (dernier chiffre) ne correspond pas."
    return ""


def adeli_error(value: str) -> str:
    value = clean(value)
    if len(value) != 9:
        return "Le numéro ADELI compte 9 caractères."
    departement, rest = value[:2], value[2:]
    if not (departement.isdigit() or departement in {"2A", "2B"}) or not rest.isdigit():
        return (
            "Numéro ADELI invalide : 2 caractères de département (2A/2B pour la Corse) "
            "puis 7 chiffres."
        )
    if departement == "00":
        return "Numéro ADELI invalide : département 00."
    return ""


def finess_error(value: str) -> str:
    value = clean(value)
    if len(value) != 9:
        return "Le numéro FINESS compte 9 caractères."
    digits = (
        value.replace("2A", "20", 1).replace("2B", "20", 1) if value[:2] in {"2A", "2B"} else value
    )
    if not digits.isdigit():
        return "Numéro FINESS invalide : chiffres uniquement (2A/2B pour la Corse)."
    if not luhn_ok(digits):
        return "Numéro FINESS invalide : la clé de contrôle (dernier chiffre) ne correspond pas."
    return ""


LA_POSTE_SIREN = "356000000"


def siret_error(value: str) -> str:
    value = clean(value)
    if not _DIGITS.fullmatch(value) or len(value) != 14:
        return "Le numéro SIRET compte 14 chiffres."
    la_poste = value.startswith(LA_POSTE_SIREN) and sum(int(c) for c in value) % 5 == 0
    if not (luhn_ok(value) or la_poste):
        return "Numéro SIRET invalide : la clé de contrôle ne correspond pas."
    return ""

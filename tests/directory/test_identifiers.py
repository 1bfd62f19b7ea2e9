import pytest

from relais.directory.identifiers import (
    adeli_error,
    finess_error,
    luhn_key,
    luhn_ok,
    rpps_error,
    siret_error,
)


def rpps(prefix: str) -> str:
    return prefix + luhn_key(prefix)


def test_it_accepts_an_rpps_with_its_luhn_key():
    number = rpps("1000345678")
    assert len(number) == 11 and rpps_error(number) == ""
    assert rpps_error(" ".join([number[:3], number[3:7], number[7:]])) == ""  # typed with spaces


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("1000345678", "11 chiffres"),
        ("100034567890", "11 chiffres"),
        ("1000345678A", "11 chiffres"),
        ("", "11 chiffres"),
    ],
)
def test_it_refuses_an_rpps_of_the_wrong_shape(value, reason):
    assert reason in rpps_error(value)


def test_it_refuses_an_rpps_whose_key_is_wrong():
    good = rpps("1000345678")
    bad = good[:-1] + str((int(good[-1]) + 1) % 10)
    assert "clé de contrôle" in rpps_error(bad)


def test_it_computes_luhn_like_the_reference_examples():
    assert luhn_ok("79927398713")  # the classic Luhn example
    assert not luhn_ok("79927398710")
    assert luhn_key("7992739871") == "3"


def test_it_checks_the_adeli_structure():
    assert adeli_error("916012345") == ""
    assert adeli_error("2A6012345") == ""
    assert "9 caractères" in adeli_error("91601234")
    assert "invalide" in adeli_error("9160123X5")
    assert "00" in adeli_error("006012345")


def test_it_checks_finess_keys_corsica_included():
    number = "91000012"
    assert finess_error(number + luhn_key(number)) == ""
    assert "clé" in finess_error(number + str((int(luhn_key(number)) + 1) % 10))
    corsica = "2A000001"
    assert finess_error(corsica + luhn_key("20000001")) == ""
    assert "9 caractères" in finess_error("9100001")


def test_it_checks_siret_keys_and_la_poste_exception():
    assert siret_error("73282932000074") == ""
    assert "clé" in siret_error("73282932000075")
    assert "14 chiffres" in siret_error("7328293200007")
    # La Poste: the sum of the digits is a multiple of 5 (not a Luhn number).
    assert not luhn_ok("35600000000015") and siret_error("35600000000015") == ""

"""Django-free geography helpers: distances and search keys."""

import math
import unicodedata

EARTH_RADIUS_KM = 6371.0088


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance in kilometres."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlambda = math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def bounding_box(lat: float, lon: float, radius_km: float) -> tuple[float, float, float, float]:
    """(min_lat, max_lat, min_lon, max_lon) of a box that contains the circle.

    Used as an index-friendly prefilter before the exact haversine distance.
    """
    dlat = math.degrees(radius_km / EARTH_RADIUS_KM)
    coslat = max(math.cos(math.radians(lat)), 0.01)
    dlon = math.degrees(radius_km / (EARTH_RADIUS_KM * coslat))
    return lat - dlat, lat + dlat, lon - dlon, lon + dlon


def search_key(text: str) -> str:
    """Lowercase, accent-free, hyphens and apostrophes as spaces: 'Évry-Courcouronnes' -> 'evry
    courcouronnes'. Saint/Sainte abbreviations are expanded so 'st etienne' finds Saint-Étienne."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    for sep in "-'’.,()":
        plain = plain.replace(sep, " ")
    words = []
    for word in plain.split():
        words.append({"st": "saint", "ste": "sainte"}.get(word, word))
    return " ".join(words)

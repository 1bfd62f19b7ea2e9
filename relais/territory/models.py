"""Départements, communes (real INSEE geography), SAS and CPTS."""

from django.db import models

from relais.core.models import PublicIdModel


class Departement(models.Model):
    code = models.CharField("code", max_length=3, unique=True)
    name = models.CharField("nom", max_length=100)
    region_code = models.CharField("code région", max_length=3, blank=True)
    region_name = models.CharField("région", max_length=100, blank=True)
    # Search radius used by default for this département: dense urban areas
    # need a small one, rural ones a wider one (as the national SAS platform does).
    default_radius_km = models.PositiveSmallIntegerField("rayon de recherche (km)", default=20)

    class Meta:
        ordering = ["code"]
        verbose_name = "département"

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class Commune(models.Model):
    insee = models.CharField("code INSEE", max_length=5, unique=True)
    name = models.CharField("nom", max_length=100)
    # Lowercase, accent-free name for the autocomplete (see geo.search_key).
    search_name = models.CharField(max_length=100, db_index=True)
    postal_codes = models.CharField("codes postaux", max_length=200, blank=True)
    departement = models.ForeignKey(Departement, on_delete=models.PROTECT, related_name="communes")
    latitude = models.FloatField(null=True, blank=True)
    longitude = models.FloatField(null=True, blank=True)
    population = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["latitude", "longitude"], name="commune_latlon_idx")]

    def __str__(self) -> str:
        first_postal = self.postal_codes.split(";")[0] if self.postal_codes else ""
        return f"{self.name} ({first_postal or self.departement_id})"

    @property
    def has_point(self) -> bool:
        return self.latitude is not None and self.longitude is not None


class Sas(PublicIdModel):
    """The département's Service d'Accès aux Soins, shared by several CPTS."""

    departement = models.OneToOneField(Departement, on_delete=models.PROTECT, related_name="sas")
    name = models.CharField("nom", max_length=150)
    phone = models.CharField("téléphone", max_length=20, default="15")
    # Participation forfait of the SAS's effecteurs when their CPTS sets none; empty = the
    # national settings (RELAIS_SAS_FORFAIT_EUR, RELAIS_SAS_FORFAIT_MIN_WEEKLY_HOURS).
    forfait_eur = models.DecimalField(
        "forfait annuel (€)", max_digits=7, decimal_places=2, null=True, blank=True
    )
    forfait_min_weekly_hours = models.DecimalField(
        "heures publiées par semaine pour le forfait",
        max_digits=4,
        decimal_places=2,
        null=True,
        blank=True,
    )

    class Meta:
        verbose_name = "SAS"
        verbose_name_plural = "SAS"

    def __str__(self) -> str:
        return self.name


class Cpts(PublicIdModel):
    """Communauté professionnelle territoriale de santé."""

    name = models.CharField("nom", max_length=150, unique=True)
    finess = models.CharField("FINESS", max_length=9, unique=True)
    sas = models.ForeignKey(Sas, on_delete=models.PROTECT, related_name="cpts_set")
    communes = models.ManyToManyField(Commune, related_name="cpts_set", blank=True)
    phone = models.CharField("téléphone", max_length=20, blank=True)
    email = models.EmailField("e-mail de contact", blank=True)
    address = models.CharField("adresse", max_length=200, blank=True)
    siret = models.CharField("SIRET", max_length=14, blank=True)
    # Opening hours of the CPTS line and web form, per ISO weekday (1 = Monday):
    # {"1": [["08:00", "18:00"]], "6": [["08:00", "11:00"]], "closed": ["2026-12-24"]}
    # ("closed": days the form stays closed besides public holidays, see service_hours.py).
    service_hours = models.JSONField("horaires de service", default=dict, blank=True)
    # Participation pay of this CPTS's effecteurs; empty = the national settings
    # (RELAIS_SNP_MAJORATION_EUR, RELAIS_SNP_MAJORATION_WEEKLY_CAP).
    majoration_eur = models.DecimalField(
        "majoration SNP (€)", max_digits=6, decimal_places=2, null=True, blank=True
    )
    majoration_weekly_cap = models.PositiveSmallIntegerField(
        "plafond hebdomadaire de majorations", null=True, blank=True
    )
    # Yearly participation forfait of an effecteur; empty = the national 1,400 €.
    forfait_eur = models.DecimalField(
        "forfait annuel (€)", max_digits=7, decimal_places=2, null=True, blank=True
    )

    class Meta:
        ordering = ["name"]
        verbose_name = "CPTS"
        verbose_name_plural = "CPTS"

    def __str__(self) -> str:
        return self.name

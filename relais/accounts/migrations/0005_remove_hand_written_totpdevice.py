from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("accounts", "0004_totp_secrets_to_django_otp")]

    operations = [migrations.DeleteModel(name="TotpDevice")]

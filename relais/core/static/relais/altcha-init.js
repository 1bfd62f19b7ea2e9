// ALTCHA proof-of-work widget of the public web form (relais/regulation/web_limits.py).
// Loaded as a module after vendor/altcha/altcha.min.js: registers the worker from our own
// static files (the "external" build has no inline worker or style, so the strict CSP
// default-src 'self' holds) and the French strings.
const widget = document.querySelector("altcha-widget[data-worker]");
if (widget && globalThis.$altcha) {
  const workerUrl = widget.dataset.worker;
  globalThis.$altcha.algorithms.set("PBKDF2/SHA-256", () => new Worker(workerUrl));
  globalThis.$altcha.i18n.set("fr", {
    ariaLinkLabel: "Altcha (site officiel)",
    enterCode: "Entrez le code",
    enterCodeAria: "Entrez le code que vous entendez.",
    error: "Échec de la vérification. Réessayez, ou appelez la CPTS.",
    expired: "La vérification a expiré. Cochez à nouveau la case.",
    footer: "",
    getAudioChallenge: "Obtenir un défi audio",
    label: "Je ne suis pas un robot",
    loading: "Chargement…",
    reload: "Recharger",
    verify: "Vérifier",
    verificationRequired: "Cochez la case de vérification avant d'envoyer.",
    verified: "Vérifié",
    verifying: "Vérification en cours…",
    waitAlert: "Vérification en cours… veuillez patienter.",
    cancel: "Annuler",
    enterCodeFromImage: "Entrez le code de l'image ci-dessous.",
  });
}

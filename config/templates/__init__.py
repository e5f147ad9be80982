"""Default client message templates, installed as the package syncd.default_templates."""

"""Single sign-on: OpenID Connect and CAS logins matched to the directory,
single logout, local passwords turned off per profile (docs/operations.md,
"Single sign-on")."""

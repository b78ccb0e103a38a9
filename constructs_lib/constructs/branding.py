"""``spec.branding`` (the brand ConfigMap mounted read-only at /etc/paperclip/branding,
PAPERCLIP_BRAND_DIR) and ``spec.connections`` (the OAuth credentials Secret key and the
optional providers ConfigMap). Both only shape the server pod; neither adds objects."""

from __future__ import annotations

from constructs_lib.constructs.feature import Contribution, EnvEntry, EnvSlot, Feature
from constructs_lib.spec import Instance

BRAND_VOLUME = "paperclip-branding"
BRAND_DIR = "/etc/paperclip/branding"
PROVIDERS_KEY = "PAPERCLIP_OAUTH_PROVIDERS"


class BrandingFeature(Feature):
    """``branding.cssConfigMapRef``."""

    id = "branding"

    @classmethod
    def applies(cls, instance: Instance) -> bool:
        branding = instance.spec.branding
        return branding is not None and branding.css_config_map_ref is not None

    @classmethod
    def contribute(cls, instance: Instance) -> Contribution:
        branding = instance.spec.branding
        assert branding is not None and branding.css_config_map_ref is not None
        return Contribution(
            env=[EnvEntry("PAPERCLIP_BRAND_DIR", BRAND_DIR, slot=EnvSlot.BRANDING)],
            volumes=[
                {"name": BRAND_VOLUME, "configMap": {"name": branding.css_config_map_ref.name}}
            ],
            mounts=[{"name": BRAND_VOLUME, "mountPath": BRAND_DIR, "readOnly": True}],
        )


class ConnectionsFeature(Feature):
    """``connections``: PAPERCLIP_OAUTH_CREDENTIALS (secretKeyRef) and, with
    ``providersConfigRef``, PAPERCLIP_OAUTH_PROVIDERS (optional configMapKeyRef)."""

    id = "connections"

    @classmethod
    def applies(cls, instance: Instance) -> bool:
        return instance.spec.connections is not None

    @classmethod
    def contribute(cls, instance: Instance) -> Contribution:
        connections = instance.spec.connections
        assert connections is not None
        slot = EnvSlot.CONNECTIONS
        env = [
            EnvEntry(
                "PAPERCLIP_OAUTH_CREDENTIALS",
                secret_name=connections.credentials_secret_ref.name,
                secret_key=connections.credentials_key,
                slot=slot,
            )
        ]
        if connections.providers_config_ref is not None:
            env.append(
                EnvEntry(
                    PROVIDERS_KEY,
                    secret_name=connections.providers_config_ref.name,
                    secret_key=PROVIDERS_KEY,
                    optional=True,
                    slot=slot,
                    config_map=True,
                )
            )
        return Contribution(env=env)

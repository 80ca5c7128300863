//! The edge of the secret routes: the `{name}` of the path, the create body `{name, secretPath,
//! sync}` and the PATCH body `{sync}` (a merge patch whose `sync` replaces the whole list;
//! `null` or `[]` stops syncing), each parsed into its validated shape. Bodies refuse unknown
//! fields: there is no field that could carry a secret's value.

use super::{page_limit, FromIncoming, Route};
use crate::{
    api::secrets::{CreateSecret, DeleteSecret, GetSecret, ListSecrets, SecretPatch, UpdateSecret},
    domain::{
        names::SecretName,
        page::decode_continue,
        secret::{NewSecret, SecretPath, SyncTargetInput, SyncTargets},
        Invalid,
    },
    http::{edge::present, ApiError, Incoming, Media, Parsed},
};
use serde::Deserialize;

/// The body of a new secret.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct NewSecretBody {
    name: Option<String>,
    secret_path: Option<String>,
    /// Absent or `null`: no targets (Kupe's Terraform provider sends `null` for none).
    #[serde(default)]
    sync: Option<Vec<SyncTargetInput>>,
}

/// The body of a PATCH.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SecretPatchBody {
    name: Option<String>,
    secret_path: Option<String>,
    #[serde(default, deserialize_with = "present")]
    sync: Option<Option<Vec<SyncTargetInput>>>,
}

fn secret_name(raw: &str) -> Result<SecretName, Invalid> {
    SecretName::parse(raw).map_err(Invalid::of("name"))
}

impl TryFrom<NewSecretBody> for NewSecret {
    type Error = Invalid;

    fn try_from(b: NewSecretBody) -> Result<Self, Invalid> {
        let name = b
            .name
            .ok_or_else(|| Invalid::at("name", "name is required"))?;
        let name = secret_name(&name)?;
        let path = b
            .secret_path
            .ok_or_else(|| Invalid::at("secretPath", "secretPath is required"))?;
        let secret_path = SecretPath::parse(&path)?;
        let sync = SyncTargets::parse(&name, b.sync.unwrap_or_default())?;
        Ok(NewSecret {
            name,
            secret_path,
            sync,
        })
    }
}

fn path_name(incoming: &Incoming) -> Parsed<SecretName> {
    SecretName::parse(incoming.param("name"))
        .map_err(|e| ApiError::invalid(e.to_string()).at("name"))
}

impl FromIncoming for CreateSecret {
    const ROUTE: Route = Route::CreateSecret;

    fn from_incoming(incoming: Incoming) -> Self {
        CreateSecret {
            caller: incoming.caller(),
            token: incoming.request_id().to_string(),
            secret: incoming
                .json::<NewSecretBody>(Media::Json)
                .and_then(|b| Ok(NewSecret::try_from(b)?)),
        }
    }
}

impl FromIncoming for ListSecrets {
    const ROUTE: Route = Route::ListSecrets;

    fn from_incoming(incoming: Incoming) -> Self {
        let limit = page_limit(&incoming);
        let after = match incoming.query("continue") {
            None => Ok(None),
            Some(token) => decode_continue(token)
                .and_then(|n| SecretName::parse(&n).ok())
                .map(Some)
                .ok_or_else(|| {
                    ApiError::invalid("continue is not a token from a previous page").at("continue")
                }),
        };
        ListSecrets {
            caller: incoming.caller(),
            limit,
            after,
        }
    }
}

impl FromIncoming for GetSecret {
    const ROUTE: Route = Route::GetSecret;

    fn from_incoming(incoming: Incoming) -> Self {
        GetSecret {
            caller: incoming.caller(),
            name: path_name(&incoming),
            if_none_match: incoming.if_none_match(),
        }
    }
}

impl FromIncoming for UpdateSecret {
    const ROUTE: Route = Route::UpdateSecret;

    fn from_incoming(incoming: Incoming) -> Self {
        let name = path_name(&incoming);
        let patch = incoming
            .json::<SecretPatchBody>(Media::MergePatch)
            .and_then(|b| {
                let Some(sync) = b.sync else {
                    return Err(ApiError::invalid(
                        "sync is required: PATCH replaces the whole sync list",
                    )
                    .at("sync"));
                };
                // Targets default their secretName to the path's name (a bad one is the 400).
                let owner = name.clone()?;
                Ok(SecretPatch {
                    sync: SyncTargets::parse(&owner, sync.unwrap_or_default())?,
                    name: b.name,
                    secret_path: b.secret_path,
                })
            });
        UpdateSecret {
            caller: incoming.caller(),
            token: incoming.request_id().to_string(),
            name,
            if_match: incoming.if_match(),
            patch,
        }
    }
}

impl FromIncoming for DeleteSecret {
    const ROUTE: Route = Route::DeleteSecret;

    fn from_incoming(incoming: Incoming) -> Self {
        DeleteSecret {
            caller: incoming.caller(),
            token: incoming.request_id().to_string(),
            name: path_name(&incoming),
            if_match: incoming.if_match(),
        }
    }
}

//! Wire shapes shared by the project and group routes (R2's): users and groups named next to a
//! project or group, the id lists of share and seat requests, and their item-by-item answers.

use reefguide_domain::EntityId;
use reefguide_ports::{GrantChange, GroupRef, UserRef};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use crate::errors::ApiError;
use crate::wire::Validation;

/// Most ids one share or seat request takes.
pub const MAX_IDS: usize = 100;

/// `{id, email}` of a user.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserBrief {
    /// Id.
    #[schema(example = 3)]
    pub id: i32,
    /// Email (null for an account of an external identity).
    #[schema(example = "ana@example.com")]
    pub email: Option<String>,
}

impl From<&UserRef> for UserBrief {
    fn from(user: &UserRef) -> Self {
        Self {
            id: user.id.get(),
            email: user.email.as_ref().map(|email| email.as_str().to_owned()),
        }
    }
}

/// `{userId, userEmail}`: one user of a share or seat answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserItem {
    /// Id.
    #[serde(rename = "userId")]
    pub user_id: i32,
    /// Email (null for an account of an external identity).
    #[serde(rename = "userEmail")]
    pub user_email: Option<String>,
}

impl From<&UserRef> for UserItem {
    fn from(user: &UserRef) -> Self {
        Self {
            user_id: user.id.get(),
            user_email: user.email.as_ref().map(|email| email.as_str().to_owned()),
        }
    }
}

/// `{groupId, groupName}`: one group of a share answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupItem {
    /// Id.
    #[serde(rename = "groupId")]
    pub group_id: i32,
    /// Name.
    #[serde(rename = "groupName")]
    pub group_name: String,
}

impl From<&GroupRef> for GroupItem {
    fn from(group: &GroupRef) -> Self {
        Self {
            group_id: group.id.get(),
            group_name: group.name.clone(),
        }
    }
}

/// `{userId, error}`: a user id that names no account.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserIdError {
    /// The id asked for.
    #[serde(rename = "userId")]
    pub user_id: i32,
    /// `User not found`.
    pub error: String,
}

/// `{groupId, error}`: a group id that names no group.
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupIdError {
    /// The id asked for.
    #[serde(rename = "groupId")]
    pub group_id: i32,
    /// `Group not found`.
    pub error: String,
}

/// A change of many user grants as the wire shows it: what changed, what did not, what was
/// not found.
pub fn user_change(change: &GrantChange<UserRef, reefguide_domain::UserId>) -> UserChangeWire {
    UserChangeWire {
        changed: change.changed.iter().map(UserItem::from).collect(),
        unchanged: change.unchanged.iter().map(UserItem::from).collect(),
        errors: change
            .missing
            .iter()
            .map(|id| UserIdError {
                user_id: id.get(),
                error: "User not found".to_owned(),
            })
            .collect(),
    }
}

/// The three lists of a user grant change.
pub struct UserChangeWire {
    /// Changed.
    pub changed: Vec<UserItem>,
    /// Unchanged.
    pub unchanged: Vec<UserItem>,
    /// Not found.
    pub errors: Vec<UserIdError>,
}

/// `{"userIds": [...]}`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UserIdsRequest {
    /// User ids, 1 to 100.
    #[serde(rename = "userIds", deserialize_with = "whole_numbers")]
    #[schema(schema_with = id_list_schema)]
    pub user_ids: Vec<i64>,
}

/// `{"groupIds": [...]}`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct GroupIdsRequest {
    /// Group ids, 1 to 100.
    #[serde(rename = "groupIds", deserialize_with = "whole_numbers")]
    #[schema(schema_with = id_list_schema)]
    pub group_ids: Vec<i64>,
}

/// 1 to [`MAX_IDS`] positive 32-bit ids.
fn id_list_schema() -> utoipa::openapi::Schema {
    let schema = serde_json::json!({
        "type": "array",
        "minItems": 1,
        "maxItems": MAX_IDS,
        "items": {"type": "integer", "minimum": 1, "maximum": 2_147_483_647},
        "example": [3, 4],
    });
    serde_json::from_value(schema).unwrap_or_default()
}

/// A list of integers, each also as an integer-valued number (JSON Schema's `integer`).
fn whole_numbers<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<i64>, D::Error> {
    #[derive(Deserialize)]
    struct Whole(#[serde(deserialize_with = "crate::wire::whole_number")] i64);
    Ok(Vec::<Whole>::deserialize(deserializer)?
        .into_iter()
        .map(|Whole(n)| n)
        .collect())
}

/// The ids of a request as entity ids: 1 to [`MAX_IDS`] of them, each positive. An id too
/// large for an account is one that names none, answered item by item; it is not refused.
pub fn entity_ids<T: EntityId>(path: &str, raw: &[i64]) -> Result<Vec<T>, ApiError> {
    let mut validation = Validation::default();
    let count = validation.field(
        path,
        match raw.len() {
            0 => Err("must list at least one id".to_owned()),
            n if n > MAX_IDS => Err(format!("must list at most {MAX_IDS} ids")),
            _ => Ok(()),
        },
    );
    let ids: Option<Vec<T>> = raw
        .iter()
        .enumerate()
        .map(|(index, &id)| validation.field(&format!("{path}[{index}]"), T::from_raw(id)))
        .collect();
    let (_, ids) = validation.finish((count, ids))?;
    Ok(ids)
}

/// `Some(value)` for a present field, null included (`Some(None)`), so that `null` can mean
/// "remove" and an absent field "keep".
pub fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

//! Group use cases (R2's `/api/groups`): who may see or change a group is the domain's rule
//! ([`reefguide_domain::access`]); every change is written to the audit log (R2 defines these
//! events and never writes them).

use reefguide_domain::access::{may_manage_group, may_own_group, may_view_group};
use reefguide_domain::group::{
    GroupChange, GroupDraft, GroupError, GroupId, GroupSeat, GroupStanding,
};
use reefguide_domain::{User, UserAction, UserId};
use serde_json::json;

use crate::clock::Clock;
use crate::repositories::{
    GrantChange, GroupDetail, GroupPage, GroupQuery, GroupRepository, Toggle, TransferError,
    UserLogRepository, UserRef,
};
use crate::services::audit_trail::record;

/// Everything the group use cases need from storage.
pub trait GroupStore: GroupRepository + UserLogRepository {}

impl<T> GroupStore for T where T: GroupRepository + UserLogRepository {}

/// The group use cases.
#[derive(Debug, Clone)]
pub struct GroupService<S, C> {
    store: S,
    clock: C,
}

/// What a change of a group needs from the caller.
#[derive(Debug, Clone, Copy)]
enum Needs {
    /// Seeing it (owner, manager, member).
    View,
    /// Managing it (owner, manager).
    Manage,
    /// Owning it.
    Own,
}

impl<S: GroupStore, C: Clock> GroupService<S, C> {
    /// Wires the service.
    pub fn new(store: S, clock: C) -> Self {
        Self { store, clock }
    }

    /// Creates a group owned by the caller.
    pub async fn create(&self, actor: &User, draft: GroupDraft) -> Result<GroupDetail, GroupError> {
        let detail = self.store.create_group(actor.id, &draft).await?;
        self.log(actor.id, UserAction::CreateGroup, &detail, json!({}))
            .await?;
        Ok(detail)
    }

    /// The groups the caller is in (every group for administrators).
    pub async fn list(&self, actor: &User, limit: u64, offset: u64) -> anyhow::Result<GroupPage> {
        self.store
            .list_groups(&GroupQuery {
                involving: (!actor.roles.is_admin()).then_some(actor.id),
                limit,
                offset,
            })
            .await
    }

    /// The groups the caller is in, whatever their role (administrators included).
    pub async fn mine(&self, actor: &User, limit: u64) -> anyhow::Result<GroupPage> {
        self.store
            .list_groups(&GroupQuery {
                involving: Some(actor.id),
                limit,
                offset: 0,
            })
            .await
    }

    /// One group the caller sees.
    pub async fn get(&self, actor: &User, id: GroupId) -> Result<GroupDetail, GroupError> {
        self.allowed(actor, id, Needs::View).await
    }

    /// Renames a group or changes its description (owner, managers).
    pub async fn update(
        &self,
        actor: &User,
        id: GroupId,
        change: GroupChange,
    ) -> Result<GroupDetail, GroupError> {
        self.allowed(actor, id, Needs::Manage).await?;
        let detail = self
            .store
            .update_group(id, &change)
            .await?
            .ok_or(GroupError::NotFound(id))?;
        self.log(
            actor.id,
            UserAction::UpdateGroup,
            &detail,
            json!({"name": change.name.is_some(), "description": change.description.is_some()}),
        )
        .await?;
        Ok(detail)
    }

    /// Deletes a group (owner).
    pub async fn delete(&self, actor: &User, id: GroupId) -> Result<(), GroupError> {
        let detail = self.allowed(actor, id, Needs::Own).await?;
        if !self.store.delete_group(id).await? {
            return Err(GroupError::NotFound(id));
        }
        self.log(actor.id, UserAction::DeleteGroup, &detail, json!({}))
            .await?;
        Ok(())
    }

    /// Adds or removes members (owner, managers) or managers (owner).
    pub async fn change_seats(
        &self,
        actor: &User,
        id: GroupId,
        seat: GroupSeat,
        users: &[UserId],
        toggle: Toggle,
    ) -> Result<GrantChange<UserRef, UserId>, GroupError> {
        let needs = match seat {
            GroupSeat::Member => Needs::Manage,
            GroupSeat::Manager => Needs::Own,
        };
        let detail = self.allowed(actor, id, needs).await?;
        let change = self
            .store
            .change_seats(id, seat, users, toggle)
            .await?
            .ok_or(GroupError::NotFound(id))?;
        if !change.changed.is_empty() {
            let action = match (seat, toggle) {
                (GroupSeat::Member, Toggle::Add) => UserAction::AddGroupMember,
                (GroupSeat::Member, Toggle::Remove) => UserAction::RemoveGroupMember,
                (GroupSeat::Manager, Toggle::Add) => UserAction::AddGroupManager,
                (GroupSeat::Manager, Toggle::Remove) => UserAction::RemoveGroupManager,
            };
            let ids: Vec<i32> = change.changed.iter().map(|user| user.id.get()).collect();
            self.log(actor.id, action, &detail, json!({"user_ids": ids}))
                .await?;
        }
        Ok(change)
    }

    /// Hands a group to another user (owner). The previous owner keeps no seat unless they
    /// hold one as a manager or member.
    pub async fn transfer(
        &self,
        actor: &User,
        id: GroupId,
        new_owner: UserId,
    ) -> Result<GroupDetail, GroupError> {
        let before = self.allowed(actor, id, Needs::Own).await?;
        let detail = match self.store.transfer_group(id, new_owner).await {
            Ok(Some(detail)) => detail,
            Ok(None) => return Err(GroupError::NotFound(id)),
            Err(TransferError::NoSuchUser) => return Err(GroupError::NewOwnerNotFound(new_owner)),
            Err(TransferError::Unexpected(error)) => return Err(error.into()),
        };
        self.log(
            actor.id,
            UserAction::TransferGroupOwnership,
            &detail,
            json!({"from": before.group.owner.get(), "to": new_owner.get()}),
        )
        .await?;
        Ok(detail)
    }

    /// The group, if the caller may do what `needs` says: a group the caller does not see is
    /// not found; one they see without the seat needed is refused.
    async fn allowed(
        &self,
        actor: &User,
        id: GroupId,
        needs: Needs,
    ) -> Result<GroupDetail, GroupError> {
        let detail = self
            .store
            .find_group(id)
            .await?
            .ok_or(GroupError::NotFound(id))?;
        let standing = GroupStanding::of(
            detail.group.owner == actor.id,
            detail.holds(actor.id, GroupSeat::Manager),
            detail.holds(actor.id, GroupSeat::Member),
        );
        if !may_view_group(actor, standing) {
            return Err(GroupError::NotFound(id));
        }
        match needs {
            Needs::View => Ok(detail),
            Needs::Manage if may_manage_group(actor, standing) => Ok(detail),
            Needs::Own if may_own_group(actor, standing) => Ok(detail),
            Needs::Manage => Err(GroupError::Forbidden(
                "Only the group's owner, its managers or an administrator may do this",
            )),
            Needs::Own => Err(GroupError::Forbidden(
                "Only the group's owner or an administrator may do this",
            )),
        }
    }

    async fn log(
        &self,
        actor: UserId,
        action: UserAction,
        detail: &GroupDetail,
        mut metadata: serde_json::Value,
    ) -> anyhow::Result<()> {
        if let Some(fields) = metadata.as_object_mut() {
            fields.insert("group_id".into(), json!(detail.group.id.get()));
            fields.insert("group_name".into(), json!(detail.group.name.as_str()));
        }
        record(&self.store, &self.clock, actor, action, metadata).await
    }
}

//! `etcdserverpb.Auth`: the 16 RPCs (and `Authenticate`), each one etcd-server request.

use std::sync::Arc;

use etcd_proto::etcdrs::internal_raft_request::Request as Kind;
use etcd_proto::etcdserverpb::auth_server::Auth;
use etcd_proto::etcdserverpb::*;
use etcd_server::Server;
use tonic::{Request, Response, Status};

use crate::metrics::{GrpcMetrics, Method};
use crate::unary::call;

/// The Auth service of one member.
pub(crate) struct AuthService {
    pub(crate) server: Arc<Server>,
    pub(crate) metrics: Arc<GrpcMetrics>,
}

impl AuthService {
    /// A request answered with a header alone: made into its raft request by `kind`.
    async fn change<Req, Resp>(
        &self,
        method: Method,
        request: Request<Req>,
        kind: fn(Req) -> Kind,
        response: fn(Option<ResponseHeader>) -> Resp,
    ) -> Result<Response<Resp>, Status>
    where
        Req: Send + 'static,
        Resp: Send + 'static,
    {
        call(
            &self.server,
            &self.metrics,
            method,
            request,
            |s, r, who| async move {
                let header = s.auth_change(&who, kind(r)).await?;
                Ok(response(Some(header)))
            },
        )
        .await
    }
}

#[tonic::async_trait]
impl Auth for AuthService {
    async fn auth_enable(
        &self,
        r: Request<AuthEnableRequest>,
    ) -> Result<Response<AuthEnableResponse>, Status> {
        call(
            &self.server,
            &self.metrics,
            Method::AuthEnable,
            r,
            |s, _, who| async move { s.auth_enable(&who).await },
        )
        .await
    }

    async fn auth_disable(
        &self,
        r: Request<AuthDisableRequest>,
    ) -> Result<Response<AuthDisableResponse>, Status> {
        call(
            &self.server,
            &self.metrics,
            Method::AuthDisable,
            r,
            |s, _, who| async move { s.auth_disable(&who).await },
        )
        .await
    }

    async fn auth_status(
        &self,
        r: Request<AuthStatusRequest>,
    ) -> Result<Response<AuthStatusResponse>, Status> {
        call(
            &self.server,
            &self.metrics,
            Method::AuthStatus,
            r,
            |s, _, who| async move { s.auth_status(&who).await },
        )
        .await
    }

    async fn authenticate(
        &self,
        r: Request<AuthenticateRequest>,
    ) -> Result<Response<AuthenticateResponse>, Status> {
        call(
            &self.server,
            &self.metrics,
            Method::Authenticate,
            r,
            |s, r, _| async move { s.authenticate(r).await },
        )
        .await
    }

    async fn user_add(
        &self,
        r: Request<AuthUserAddRequest>,
    ) -> Result<Response<AuthUserAddResponse>, Status> {
        call(
            &self.server,
            &self.metrics,
            Method::UserAdd,
            r,
            |s, r, who| async move { s.user_add(&who, r).await },
        )
        .await
    }

    async fn user_get(
        &self,
        r: Request<AuthUserGetRequest>,
    ) -> Result<Response<AuthUserGetResponse>, Status> {
        call(
            &self.server,
            &self.metrics,
            Method::UserGet,
            r,
            |s, r, who| async move { s.user_get(&who, r).await },
        )
        .await
    }

    async fn user_list(
        &self,
        r: Request<AuthUserListRequest>,
    ) -> Result<Response<AuthUserListResponse>, Status> {
        call(
            &self.server,
            &self.metrics,
            Method::UserList,
            r,
            |s, _, who| async move { s.user_list(&who).await },
        )
        .await
    }

    async fn user_delete(
        &self,
        r: Request<AuthUserDeleteRequest>,
    ) -> Result<Response<AuthUserDeleteResponse>, Status> {
        self.change(Method::UserDelete, r, Kind::AuthUserDelete, |header| {
            AuthUserDeleteResponse { header }
        })
        .await
    }

    async fn user_change_password(
        &self,
        r: Request<AuthUserChangePasswordRequest>,
    ) -> Result<Response<AuthUserChangePasswordResponse>, Status> {
        call(
            &self.server,
            &self.metrics,
            Method::UserChangePassword,
            r,
            |s, r, who| async move { s.user_change_password(&who, r).await },
        )
        .await
    }

    async fn user_grant_role(
        &self,
        r: Request<AuthUserGrantRoleRequest>,
    ) -> Result<Response<AuthUserGrantRoleResponse>, Status> {
        self.change(
            Method::UserGrantRole,
            r,
            Kind::AuthUserGrantRole,
            |header| AuthUserGrantRoleResponse { header },
        )
        .await
    }

    async fn user_revoke_role(
        &self,
        r: Request<AuthUserRevokeRoleRequest>,
    ) -> Result<Response<AuthUserRevokeRoleResponse>, Status> {
        self.change(
            Method::UserRevokeRole,
            r,
            Kind::AuthUserRevokeRole,
            |header| AuthUserRevokeRoleResponse { header },
        )
        .await
    }

    async fn role_add(
        &self,
        r: Request<AuthRoleAddRequest>,
    ) -> Result<Response<AuthRoleAddResponse>, Status> {
        self.change(Method::RoleAdd, r, Kind::AuthRoleAdd, |header| {
            AuthRoleAddResponse { header }
        })
        .await
    }

    async fn role_get(
        &self,
        r: Request<AuthRoleGetRequest>,
    ) -> Result<Response<AuthRoleGetResponse>, Status> {
        call(
            &self.server,
            &self.metrics,
            Method::RoleGet,
            r,
            |s, r, who| async move { s.role_get(&who, r).await },
        )
        .await
    }

    async fn role_list(
        &self,
        r: Request<AuthRoleListRequest>,
    ) -> Result<Response<AuthRoleListResponse>, Status> {
        call(
            &self.server,
            &self.metrics,
            Method::RoleList,
            r,
            |s, _, who| async move { s.role_list(&who).await },
        )
        .await
    }

    async fn role_delete(
        &self,
        r: Request<AuthRoleDeleteRequest>,
    ) -> Result<Response<AuthRoleDeleteResponse>, Status> {
        self.change(Method::RoleDelete, r, Kind::AuthRoleDelete, |header| {
            AuthRoleDeleteResponse { header }
        })
        .await
    }

    async fn role_grant_permission(
        &self,
        r: Request<AuthRoleGrantPermissionRequest>,
    ) -> Result<Response<AuthRoleGrantPermissionResponse>, Status> {
        self.change(
            Method::RoleGrantPermission,
            r,
            Kind::AuthRoleGrantPermission,
            |header| AuthRoleGrantPermissionResponse { header },
        )
        .await
    }

    async fn role_revoke_permission(
        &self,
        r: Request<AuthRoleRevokePermissionRequest>,
    ) -> Result<Response<AuthRoleRevokePermissionResponse>, Status> {
        self.change(
            Method::RoleRevokePermission,
            r,
            Kind::AuthRoleRevokePermission,
            |header| AuthRoleRevokePermissionResponse { header },
        )
        .await
    }
}

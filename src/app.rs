//! `App::build(settings)`: connect, migrate, load the demo into an empty database if
//! configured, bind the listener (port 0 in tests), and serve until SIGTERM/Ctrl-C.
use crate::auth::oidc::OidcVerifier;
use crate::auth::password::{PasswordError, PasswordHasher};
use crate::auth::signin::{AuthError, Authenticator};
use crate::auth::tokens::{KeyError, TokenService};
use crate::authz::Authz;
use crate::config::Settings;
use crate::domain::{DomainError, seed};
use crate::http::metrics::Metrics;
use crate::http::{self, AppState};
use crate::{db, graphql};
use entity::org_unit;
use sea_orm::{DatabaseConnection, DbErr, EntityTrait, PaginatorTrait};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("database: {0}")]
    Db(#[from] DbErr),
    #[error("loading demo data: {0}")]
    Seed(#[from] DomainError),
    #[error("password hashing: {0}")]
    Password(#[from] PasswordError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("{0}")]
    Keys(#[from] KeyError),
    #[error("sign-in: {0}")]
    Auth(#[from] AuthError),
    #[error("server: {0}")]
    Serve(std::io::Error),
}

pub struct App {
    listener: TcpListener,
    router: axum::Router,
    db: DatabaseConnection,
    local_addr: SocketAddr,
}

impl App {
    pub async fn build(settings: Settings) -> Result<Self, AppError> {
        // One registry per server: tests run many in one process.
        let metrics = Arc::new(Metrics::new());
        let mut db = db::connect(&settings).await?;
        {
            let metrics = metrics.clone();
            db::count_statements(&mut db, move || metrics.sql_statement());
        }
        db::migrate(&db).await?;
        if settings.demo_data && org_unit::Entity::find().count(&db).await? == 0 {
            tracing::info!("empty database: loading the demo data");
            let hasher = PasswordHasher::new(settings.password)?;
            seed::demo::seed(&db, &hasher, settings.clock).await?;
        }
        let authz = Arc::new(Authz::new(db.clone()));
        let tokens = TokenService::new(
            &settings.signing_keys()?,
            &settings.tokens.issuer,
            &settings.tokens.audience,
            settings.tokens.ttl_seconds,
        )?;
        let auth = Arc::new(Authenticator::new(
            db.clone(),
            PasswordHasher::new(settings.password)?,
            tokens,
            OidcVerifier::new(&settings.oidc, settings.oidc_min_refresh),
            settings.login_max_failures,
            settings.login_lockout_seconds,
        )?);
        let schema = graphql::schema_builder(&settings)
            .data(db.clone())
            .data(authz.clone())
            .data(auth.clone())
            .finish();
        let listener = TcpListener::bind(settings.listen)
            .await
            .map_err(|source| AppError::Bind { addr: settings.listen, source })?;
        let local_addr = listener.local_addr().map_err(AppError::Serve)?;
        let public_url = settings.public_url.clone().unwrap_or_else(|| format!("http://{local_addr}"));
        let state =
            AppState { schema, db: db.clone(), authz, auth, public_url, clock: settings.clock, metrics };
        let router = http::router(state, &settings);
        Ok(Self { listener, router, db, local_addr })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Serves until SIGTERM or Ctrl-C, then lets running requests finish.
    pub async fn run(self) -> Result<(), AppError> {
        self.run_until(shutdown_signal()).await
    }

    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), AppError> {
        tracing::info!(addr = %self.local_addr, "serving");
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(AppError::Serve)?;
        self.db.close().await?;
        Ok(())
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}

use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://USER@HOST/DB")]
    UnsupportedUrl(String),
    #[error("collection {0:?} already exists")]
    CollectionExists(String),
    #[error("collection {0:?} does not exist")]
    CollectionNotFound(String),
    #[error("user {0:?} already exists")]
    UserExists(String),
    #[error("user {0:?} does not exist")]
    UserNotFound(String),
    #[error("user {user_id:?} holds {has} faces; {adding} more would pass the limit of {limit}")]
    UserFaceLimit { user_id: String, has: u64, adding: u64, limit: u64 },
    #[error("request token {0:?} was used before with other parameters")]
    RequestMismatch(String),
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Blob(#[from] crate::blobs::BlobError),
    #[error("migration {version} failed: {message}")]
    Migration { version: i64, message: String },
}

impl StoreError {
    /// Whether the failure is the database being out of reach (connection refused, pool timed out) rather
    /// than a problem with the request: the HTTP layer answers 503 for these.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Unavailable(_) | StoreError::Blob(crate::blobs::BlobError::Unavailable(_)) => true,
            StoreError::Database(e) => matches!(
                e,
                sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_)
            ),
            _ => false,
        }
    }

    /// Whether the database refused text it cannot store (PostgreSQL: a NUL character, SQLSTATE 22021, or a
    /// character the encoding lacks, 22P05): the request's fault, which the edge should have refused already.
    pub fn is_invalid_text(&self) -> bool {
        match self {
            StoreError::Database(sqlx::Error::Database(db)) => {
                matches!(db.code().as_deref(), Some("22021") | Some("22P05"))
            }
            _ => false,
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

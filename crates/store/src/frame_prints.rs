//! The replay memory of liveness sessions: the rigid landmarks of recent sessions' frames (no image, no
//! identity template), kept for a configured window so that any replica can tell a frame sent before in
//! another session, and looked up by a grid cell of the face's position and size.

use sqlx::Row;

use crate::error::StoreResult;
use crate::store::Store;
use crate::{decode_template, encode_template};

/// A frame's print to keep.
#[derive(Debug, Clone, PartialEq)]
pub struct NewFramePrint<'a> {
    pub session_id: &'a str,
    pub sequence: i64,
    /// The lookup cell.
    pub cell: i64,
    /// The landmarks' coordinates, flat (x, y per point).
    pub points: &'a [f32],
    pub created_at: i64,
}

/// A kept print: whose frame it was, and the landmarks' coordinates, flat.
#[derive(Debug, Clone, PartialEq)]
pub struct FramePrintRow {
    pub session_id: String,
    pub sequence: i64,
    pub points: Vec<f32>,
}

/// The most cells one lookup names.
const MAX_CELLS: usize = 64;

impl Store {
    /// Keeps a frame's print.
    pub async fn add_frame_print(&self, p: &NewFramePrint<'_>) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO liveness_frame_prints (cell, session_id, sequence, points, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(p.cell)
        .bind(p.session_id)
        .bind(p.sequence)
        .bind(encode_template(p.points))
        .bind(p.created_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The prints in any of `cells` (at most 64) kept at `since` or later by sessions other than
    /// `except_session`.
    pub async fn frame_prints_near(
        &self,
        cells: &[i64],
        since: i64,
        except_session: &str,
    ) -> StoreResult<Vec<FramePrintRow>> {
        let cells = &cells[..cells.len().min(MAX_CELLS)];
        if cells.is_empty() {
            return Ok(Vec::new());
        }
        let list: Vec<String> = (0..cells.len()).map(|i| format!("${}", i + 3)).collect();
        let sql = format!(
            "SELECT session_id, sequence, points FROM liveness_frame_prints WHERE created_at >= $1 AND session_id <> $2 AND cell IN ({})",
            list.join(", ")
        );
        let mut query = sqlx::query(&sql).bind(since).bind(except_session);
        for c in cells {
            query = query.bind(*c);
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(FramePrintRow {
                    session_id: r.try_get("session_id")?,
                    sequence: r.try_get("sequence")?,
                    points: decode_template(&r.try_get::<Vec<u8>, _>("points")?)?,
                })
            })
            .collect()
    }

    /// Forgets prints kept before `before`; returns how many.
    pub async fn purge_frame_prints(&self, before: i64) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM liveness_frame_prints WHERE created_at < $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}

//! Request bodies and the CPU work on them.
//!
//! - [`off_runtime`]: CPU work on a blocking thread when the body is big, so decoding never
//!   starves the runtime's workers (`/livez` took 1.7 s under eight big decodes).

use super::ApiError;

/// Bodies up to this size (uncompressed) are decoded on the request's own task: the decode
/// of a 12 KB frame takes ~0.1 ms, less than handing it to a blocking thread. Above it, and
/// for any compressed body (it may inflate to `MAX_BODY_BYTES`), decoding runs on the blocking
/// pool.
pub const INLINE_DECODE_BYTES: usize = 64 * 1024;

/// Runs CPU work `f` on the request's task when `inline` (small bodies: cheaper than a thread
/// hand-off), else on the blocking pool so the runtime's workers stay free for other requests
/// and the probes.
pub async fn off_runtime<T: Send + 'static>(
    inline: bool,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    if inline {
        return Ok(f());
    }
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::Internal(format!("decode task failed: {e}")))
}

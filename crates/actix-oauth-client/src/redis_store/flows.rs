//! The states already spent, in Redis: `SET PREFIXstate:DIGEST NX EX` (10 minutes), so a
//! callback replayed on another instance is refused too.

use futures_util::future::BoxFuture;

use super::Redis;
use crate::auth::oauth::PENDING_FLOW_TTL;
use crate::auth::pending_flows::ClaimStates;
use crate::auth::StoreError;

/// [`ClaimStates`] in Redis: `SpentStates::new(RedisSpentStates(redis))`.
pub struct RedisSpentStates(pub Redis);

impl ClaimStates for RedisSpentStates {
    fn claim<'a>(&'a self, digest: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let set: Option<String> = self
                .0
                .query(
                    redis::cmd("SET")
                        .arg(self.0.key(&format!("state:{digest}")))
                        .arg(1)
                        .arg("NX")
                        .arg("EX")
                        .arg(PENDING_FLOW_TTL.as_secs()),
                )
                .await?;
            Ok(set.is_some())
        })
    }
}

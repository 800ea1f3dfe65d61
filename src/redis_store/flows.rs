//! The states already spent, in Redis: `SET ttm:state:DIGEST NX EX` (10 minutes), so a
//! callback replayed on another instance is refused too.

use futures_util::future::BoxFuture;

use super::{Redis, KEY_PREFIX};
use crate::auth::oauth::PENDING_FLOW_TTL;
use crate::auth::pending_flows::ClaimStates;
use crate::auth::StoreError;

pub struct RedisSpentStates(pub Redis);

impl ClaimStates for RedisSpentStates {
    fn claim<'a>(&'a self, digest: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let set: Option<String> = self
                .0
                .query(
                    redis::cmd("SET")
                        .arg(format!("{KEY_PREFIX}state:{digest}"))
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

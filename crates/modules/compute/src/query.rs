//! Read-only queries (spec §8.3): records, a participant's roles and lists, the solver's open
//! problem, the deposits a match would require, a mediator's queue.

use crate::payout;
use crate::{store::*, types::*, NAME};
use agora_hybrid::StoreError;
use agora_ledger::{query_param, Page, QueryError, StateRead};
use agora_types::Address;
use serde_json::{json, Value};

fn corrupt(e: StoreError) -> QueryError {
    match e {
        StoreError::State(e) => QueryError::State(e),
        StoreError::Corrupt => QueryError::NotFound("corrupt compute state".into()),
    }
}

fn get<T: borsh::BorshDeserialize>(
    state: &dyn StateRead,
    key: &[u8],
) -> Result<Option<T>, QueryError> {
    read(state, key).map_err(corrupt)
}

fn found<T: serde::Serialize>(value: Option<T>, what: &str) -> Result<Value, QueryError> {
    let value = value.ok_or_else(|| QueryError::NotFound(what.to_string()))?;
    serde_json::to_value(value).map_err(|e| QueryError::BadParams(e.to_string()))
}

/// The records under `prefix` whose keys end with an id, in id order.
fn by_ids<T: borsh::BorshDeserialize>(
    state: &dyn StateRead,
    prefix: &[u8],
    record: impl Fn(u64) -> Vec<u8>,
) -> Result<Vec<T>, QueryError> {
    let mut out = Vec::new();
    for (k, _) in state.scan_prefix(prefix)? {
        let id = parse_u64_suffix(&k).map_err(corrupt)?;
        out.push(get(state, &record(id))?.ok_or_else(|| corrupt(StoreError::Corrupt))?);
    }
    Ok(out)
}

/// The 32 bytes after `prefix` in each key: the accounts of a role, or an owner's entries.
fn suffixes(state: &dyn StateRead, prefix: &[u8]) -> Result<Vec<Vec<u8>>, QueryError> {
    Ok(state
        .scan_prefix(prefix)?
        .into_iter()
        .map(|(k, _)| k[prefix.len()..].to_vec())
        .collect())
}

fn address(bytes: &[u8]) -> Result<Address, QueryError> {
    let a: [u8; 32] = bytes
        .get(..32)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| corrupt(StoreError::Corrupt))?;
    Ok(Address(a))
}

/// Roles, trust edges and runtimes of one account.
fn participant(state: &dyn StateRead, m: MarketId, who: &Address) -> Result<Value, QueryError> {
    let rp: Option<ResourceProvider> = get(state, &role_key(m, Role::ResourceProvider, who))?;
    let mediator: Option<Mediator> = get(state, &role_key(m, Role::Mediator, who))?;
    let directory: Option<Directory> = get(state, &role_key(m, Role::Directory, who))?;
    let jc = state.read(&role_key(m, Role::JobCreator, who))?.is_some();
    let mut trusted_mediators = Vec::new();
    let mut trusted_directories = Vec::new();
    for rest in suffixes(state, &trust_prefix(m, who))? {
        let target = address(rest.get(1..).unwrap_or_default())?;
        match rest.first() {
            Some(0) => trusted_mediators.push(target),
            _ => trusted_directories.push(target),
        }
    }
    let runtimes: Vec<String> = suffixes(state, &runtime_prefix(m, who))?
        .iter()
        .map(hex::encode)
        .collect();
    Ok(
        json!({"address": who, "job_creator": jc, "resource_provider": rp, "mediator": mediator,
        "directory": directory, "trusted_mediators": trusted_mediators,
        "trusted_directories": trusted_directories, "runtimes": runtimes}),
    )
}

/// The solver's input: parameters, open offers, every registered mediator and directory, and
/// each participant's trust edges and runtimes.
fn open_problem(state: &dyn StateRead, m: MarketId, market: Market) -> Result<Value, QueryError> {
    let jobs: Vec<JobOffer> = by_ids(state, &open_job_prefix(m), |o| job_key(m, o))?;
    let resources: Vec<ResourceOffer> = by_ids(state, &open_res_prefix(m), |o| res_key(m, o))?;
    let mut accounts = std::collections::BTreeSet::new();
    accounts.extend(jobs.iter().map(|j| j.owner));
    accounts.extend(resources.iter().map(|r| r.owner));
    for role in [Role::Mediator, Role::Directory] {
        for rest in suffixes(state, &role_prefix(m, role))? {
            accounts.insert(address(&rest)?);
        }
    }
    let participants = accounts
        .iter()
        .map(|a| participant(state, m, a))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(
        json!({"market": market, "job_offers": jobs, "resource_offers": resources,
        "participants": participants}),
    )
}

/// dmin_J and dmin_R (eq. 3.2) of a job offer with a given mediator.
fn required_deposit(
    state: &dyn StateRead,
    m: MarketId,
    market: &Market,
    params: &Value,
) -> Result<Value, QueryError> {
    let o: OfferId = query_param(params, "job_offer")?;
    let med: Address = query_param(params, "mediator")?;
    let job: JobOffer =
        get(state, &job_key(m, o))?.ok_or_else(|| QueryError::NotFound("job offer".into()))?;
    let mediator: Mediator = get(state, &role_key(m, Role::Mediator, &med))?
        .ok_or_else(|| QueryError::NotFound("mediator".into()))?;
    let directory: Directory = get(state, &role_key(m, Role::Directory, &job.job.directory))?
        .ok_or_else(|| corrupt(StoreError::Corrupt))?;
    let overflow = |_| QueryError::BadParams("amount overflows".into());
    let estimate = payout::price(
        job.limits.instructions,
        job.limits.bandwidth,
        job.max_prices,
    )
    .map_err(overflow)?;
    let p = &market.params;
    let dmin = |incentive| {
        payout::min_deposit(
            p.penalty_rate,
            p.verification_count,
            estimate,
            mediator.availability_fee,
            directory.availability_fee,
            incentive,
        )
    };
    Ok(
        json!({"estimate": estimate, "job_creator": dmin(job.match_incentive).map_err(overflow)?,
        "resource_provider_before_incentive": dmin(0).map_err(overflow)?}),
    )
}

pub(crate) fn answer(
    state: &dyn StateRead,
    path: &str,
    params: &Value,
) -> Result<Value, QueryError> {
    let m: MarketId = query_param(params, "market")?;
    let market: Option<Market> = get(state, &market_key(m))?;
    let id = |name| query_param::<u64>(params, name);
    match path {
        "market" => found(market, "market"),
        "participant" => {
            let who: Address = query_param(params, "address")?;
            participant(state, m, &who)
        }
        "job_offer" => found(
            get::<JobOffer>(state, &job_key(m, id("offer")?))?,
            "job offer",
        ),
        "resource_offer" => found(
            get::<ResourceOffer>(state, &res_key(m, id("offer")?))?,
            "resource offer",
        ),
        "match" => found(get::<Match>(state, &match_key(m, id("match")?))?, "match"),
        "open_problem" => {
            let market = market.ok_or_else(|| QueryError::NotFound("market".into()))?;
            open_problem(state, m, market)
        }
        "required_deposit" => {
            let market = market.ok_or_else(|| QueryError::NotFound("market".into()))?;
            required_deposit(state, m, &market, params)
        }
        "mediations" => {
            let who: Address = query_param(params, "mediator")?;
            Page::from_params(params)?
                .ids(state, &mediating_prefix(m, &who))?
                .try_map(|i| {
                    get::<Match>(state, &match_key(m, i))?
                        .ok_or_else(|| corrupt(StoreError::Corrupt))
                })?
                .answer("matches")
        }
        _ => Err(QueryError::UnknownPath {
            module: NAME.into(),
            path: path.into(),
        }),
    }
}

use super::*;
use crate::stream_analysis::replicas;
use proptest::prelude::*;

const M: Address = Address([0xee; 32]);
const TIMING: Timing = Timing {
    alloc_ms: 100,
    setup_ms: 50,
};

fn params() -> StreamParams {
    StreamParams {
        penalty_rate: 100,
        allocator_fee: 3_000,
        mediator_fee: 33,
        sign_timeout_ms: 5_000,
        reveal_timeout_ms: 5_000,
        post_timeout_ms: 5_000,
        mediation_timeout_ms: 5_000,
        supplier_timeout_fine_bps: 10_000,
        customer_timeout_fine_bps: 10_000,
        max_replicas: 16,
        max_checks: 1_024,
        max_open_per_allocator: 1_000,
    }
}

fn account(i: u8) -> Address {
    Address([i; 32])
}

fn supplier(i: u8, start_ms: u64, end_ms: u64) -> SupplierOffer {
    SupplierOffer {
        account: account(i),
        capacity: 2_000,
        ram_mb: 512,
        start_ms,
        end_ms,
        price_min: 18,
        mediators: vec![M],
        nonce: 0,
    }
}

/// λ = 1 200 inputs/s, I_c = 1 MI: needs I_s ≥ 1 200 MI/s.
fn customer(i: u8, start_ms: u64, end_ms: u64, replicas: u32) -> CustomerOffer {
    CustomerOffer {
        account: account(i),
        service: [7; 32],
        instructions: 1,
        ram_mb: 256,
        start_ms,
        end_ms,
        price_max: 23,
        rate_milli: 1_200_000,
        replicas,
        mediators: vec![M],
        min_service_ms: 500,
        nonce: 0,
    }
}

fn pool(customers: Vec<CustomerOffer>, suppliers: Vec<SupplierOffer>) -> Pool {
    let mut pool = Pool::default();
    customers.into_iter().for_each(|c| {
        pool.add_customer(c);
    });
    suppliers.into_iter().for_each(|s| {
        pool.add_supplier(s);
    });
    pool
}

/// Every property a draft must have against the pool it came from (spec 2.6 items 1-8).
fn check_plan(pool: &Pool, plan: &Plan, now: u64, p: &StreamParams) {
    let mut per_supplier: BTreeMap<Hash, Vec<(u64, u64)>> = pool.busy.clone();
    let mut per_customer: BTreeMap<Hash, Vec<(u64, u64)>> = BTreeMap::new();
    for d in &plan.drafts {
        let t = &d.terms;
        // What the allocator publishes is what the ledger accepts.
        assert_eq!(terms::derive(p, t), Ok(d.derived.clone()));
        let c = &pool.customers[&t.customer_offer];
        assert_eq!(t.customer, c.account);
        assert_eq!(d.suppliers.len(), c.replicas as usize);
        assert!(c.mediators.contains(&t.mediator));
        // Containment (A2) and δ_min.
        assert!(c.start_ms <= t.start_ms && t.end_ms <= c.end_ms);
        assert!(t.end_ms - t.start_ms >= c.min_service_ms);
        assert!(t.start_ms >= now + TIMING.alloc_ms + TIMING.setup_ms);
        // Expiry (A3).
        assert!(now < c.expiry(&TIMING));
        let mut accounts: Vec<Address> = d.suppliers.iter().map(|x| x.0).collect();
        accounts.sort();
        accounts.dedup();
        assert_eq!(accounts.len(), d.suppliers.len(), "distinct suppliers");
        let mut floor = 0;
        for (a, h) in &d.suppliers {
            let s = &pool.suppliers[h];
            assert_eq!(*a, s.account);
            assert!(*a != t.customer && *a != t.mediator);
            assert!(s.mediators.contains(&t.mediator));
            assert!(s.start_ms <= t.start_ms && t.end_ms <= s.end_ms);
            // Eq. 4.1.
            assert!(
                u128::from(c.instructions) * u128::from(c.rate_milli)
                    <= u128::from(s.capacity) * 1000
            );
            assert!(c.ram_mb <= s.ram_mb);
            floor = floor.max(s.price_min);
            per_supplier
                .entry(*h)
                .or_default()
                .push((t.start_ms, t.end_ms));
        }
        // Price rule (A4).
        assert_eq!(t.price, (floor + c.price_max) / 2);
        assert!(floor <= t.price && t.price <= c.price_max);
        per_customer
            .entry(t.customer_offer)
            .or_default()
            .push((t.start_ms, t.end_ms));
    }
    for windows in per_supplier.values().chain(per_customer.values()) {
        let mut w = windows.clone();
        w.sort();
        assert!(w.windows(2).all(|x| x[0].1 <= x[1].0), "overlap in {w:?}");
    }
}

#[test]
fn a_matching_pair_gets_one_allocation_at_the_midpoint_price() {
    let p = params();
    let pool = pool(
        vec![customer(1, 1_000, 2_000, 1)],
        vec![supplier(2, 0, 5_000)],
    );
    let plan = allocate(&pool, 0, &p, TIMING);
    check_plan(&pool, &plan, 0, &p);
    assert_eq!(plan.drafts.len(), 1);
    let d = &plan.drafts[0];
    assert_eq!((d.terms.start_ms, d.terms.end_ms), (1_000, 2_000));
    assert_eq!(d.terms.price, 20);
    assert_eq!(d.derived.inputs, 1_200);
    assert_eq!(d.derived.checks, 12);
    assert_eq!(plan.finished, vec![customer(1, 1_000, 2_000, 1).hash()]);
}

/// A2: eq. 4.2's overlap is not enough; a supplier leaving before δ_min of service is no match.
#[test]
fn windows_must_contain_the_allocation() {
    let p = params();
    // Overlaps the customer's window by 400 ms < δ_min = 500 ms.
    let pool = pool(
        vec![customer(1, 1_000, 2_000, 1)],
        vec![supplier(2, 0, 1_400)],
    );
    assert!(allocate(&pool, 0, &p, TIMING).drafts.is_empty());
    // Leaves after 600 ms: a 600 ms chunk inside both windows.
    let pool2 = super::tests::pool(
        vec![customer(1, 1_000, 2_000, 1)],
        vec![supplier(2, 0, 1_600)],
    );
    let plan = allocate(&pool2, 0, &p, TIMING);
    check_plan(&pool2, &plan, 0, &p);
    assert_eq!(plan.drafts.len(), 1);
    assert_eq!(
        (plan.drafts[0].terms.start_ms, plan.drafts[0].terms.end_ms),
        (1_000, 1_600)
    );
}

/// A3: allocatable only before t_e = t_end − δ_min − δ_setup − δ_alloc.
#[test]
fn an_offer_expires_at_t_e() {
    let p = params();
    let c = customer(1, 0, 2_000, 1);
    let t_e = c.expiry(&TIMING);
    assert_eq!(t_e, 2_000 - 500 - 50 - 100);
    let pool = pool(vec![c.clone()], vec![supplier(2, 0, 5_000)]);
    let plan = allocate(&pool, t_e - 1, &p, TIMING);
    check_plan(&pool, &plan, t_e - 1, &p);
    assert_eq!(plan.drafts.len(), 1);
    let late = allocate(&pool, t_e, &p, TIMING);
    assert!(late.drafts.is_empty());
    assert_eq!(
        late.finished,
        vec![c.hash()],
        "an expired offer leaves the pool"
    );
}

/// A1: r from the corrected eq. 4.3; r distinct accounts or nothing.
#[test]
fn replicas_are_distinct_accounts() {
    let p = params();
    let r = replicas(0.99, 0.05);
    assert_eq!(r, 2);
    let c = customer(1, 1_000, 2_000, r);
    let mut twin = supplier(2, 0, 5_000);
    twin.nonce = 1;
    // Two offers of one account are one replica.
    let pool1 = pool(vec![c.clone()], vec![supplier(2, 0, 5_000), twin]);
    let plan = allocate(&pool1, 0, &p, TIMING);
    assert!(plan.drafts.is_empty());
    assert!(plan.finished.is_empty(), "still allocatable later");
    let pool2 = pool(vec![c], vec![supplier(2, 0, 5_000), supplier(3, 0, 5_000)]);
    let plan = allocate(&pool2, 0, &p, TIMING);
    check_plan(&pool2, &plan, 0, &p);
    assert_eq!(plan.drafts.len(), 1);
    assert_eq!(plan.drafts[0].derived.escrow, 2 * 24_000 + 3_033);
}

/// A9: a customer window longer than any supplier's is served in consecutive chunks.
#[test]
fn a_long_window_is_chunked_across_suppliers() {
    let p = params();
    let pool = pool(
        vec![customer(1, 1_000, 4_000, 1)],
        vec![
            supplier(2, 0, 2_000),
            supplier(3, 1_500, 3_000),
            supplier(4, 2_900, 9_000),
        ],
    );
    let plan = allocate(&pool, 0, &p, TIMING);
    check_plan(&pool, &plan, 0, &p);
    let windows: Vec<(u64, u64)> = plan
        .drafts
        .iter()
        .map(|d| (d.terms.start_ms, d.terms.end_ms))
        .collect();
    assert_eq!(windows, [(1_000, 2_000), (2_000, 3_000), (3_000, 4_000)]);
}

/// n = ⌈N/ρ⌉ < ρ bounds a chunk: N ≤ ρ(ρ − 1), here 100 × 99 = 9 900 inputs = 8 250 ms.
#[test]
fn chunks_respect_n_below_rho() {
    let p = params();
    let pool = pool(
        vec![customer(1, 0, 20_000, 1)],
        vec![supplier(2, 0, 30_000)],
    );
    let plan = allocate(&pool, 0, &p, TIMING);
    check_plan(&pool, &plan, 0, &p);
    assert!(plan.drafts.len() >= 2);
    assert!(plan.drafts.iter().all(|d| d.derived.inputs <= 9_900));
}

#[test]
fn no_common_mediator_no_match() {
    let p = params();
    let mut s = supplier(2, 0, 5_000);
    s.mediators = vec![account(9)];
    let pool = pool(vec![customer(1, 1_000, 2_000, 1)], vec![s]);
    assert!(allocate(&pool, 0, &p, TIMING).drafts.is_empty());
}

/// Eq. 4.1: capacity, RAM and price each rule a supplier out.
#[test]
fn eq_4_1_rules_out_weak_or_dear_suppliers() {
    let p = params();
    let c = customer(1, 1_000, 2_000, 1);
    for f in [
        (|s: &mut SupplierOffer| s.capacity = 1_199) as fn(&mut SupplierOffer),
        |s| s.ram_mb = 255,
        |s| s.price_min = 24,
    ] {
        let mut s = supplier(2, 0, 5_000);
        f(&mut s);
        assert!(allocate(&pool(vec![c.clone()], vec![s]), 0, &p, TIMING)
            .drafts
            .is_empty());
    }
}

/// A supplier offer serves one allocation at a time, also across rounds; a released window
/// becomes available again.
#[test]
fn a_busy_supplier_is_not_allocated_twice() {
    let p = params();
    let mut pool = pool(
        vec![customer(1, 1_000, 2_000, 1), customer(3, 1_000, 2_000, 1)],
        vec![supplier(2, 0, 5_000)],
    );
    let plan = allocate(&pool, 0, &p, TIMING);
    check_plan(&pool, &plan, 0, &p);
    assert_eq!(plan.drafts.len(), 1);
    let taken = plan.drafts[0].clone();
    pool.apply(&plan);
    let again = allocate(&pool, 0, &p, TIMING);
    assert!(again.drafts.is_empty());
    pool.release(
        &taken.suppliers[0].1,
        (taken.terms.start_ms, taken.terms.end_ms),
    );
    assert_eq!(allocate(&pool, 0, &p, TIMING).drafts.len(), 1);
}

/// A rate that is not a whole number of inputs per ms gets a window that makes N whole.
#[test]
fn windows_keep_n_whole() {
    let p = params();
    let mut c = customer(1, 1_000, 2_999, 1);
    c.rate_milli = 20_000; // 20 inputs/s: the window must be a multiple of 50 ms.
    let pool = pool(vec![c], vec![supplier(2, 0, 9_000)]);
    let plan = allocate(&pool, 0, &p, TIMING);
    check_plan(&pool, &plan, 0, &p);
    assert_eq!(plan.drafts[0].terms.end_ms, 2_950);
}

/// Where customer offer `h` is allocated up to after `plan`.
fn pool_served(pool: &Pool, plan: &Plan, h: &Hash) -> u64 {
    let before = pool.served_until.get(h).copied().unwrap_or(0);
    plan.drafts
        .iter()
        .filter(|d| d.terms.customer_offer == *h)
        .map(|d| d.terms.end_ms)
        .fold(before, u64::max)
}

fn arb_supplier() -> impl Strategy<Value = SupplierOffer> {
    (
        1u8..8,
        500u64..3_000,
        0u64..4_000,
        100u64..4_000,
        1u64..40,
        any::<bool>(),
        0u64..3,
    )
        .prop_map(
            |(i, capacity, start, len, price_min, trusts, nonce)| SupplierOffer {
                account: account(i),
                capacity,
                ram_mb: 128 * u64::from(i % 4 + 1),
                start_ms: start,
                end_ms: start + len,
                price_min,
                mediators: if trusts { vec![M] } else { vec![account(3)] },
                nonce,
            },
        )
}

fn arb_customer() -> impl Strategy<Value = CustomerOffer> {
    (
        1u8..8,
        0u64..4_000,
        100u64..6_000,
        1u64..40,
        prop::sample::select(vec![20_000u64, 333_000, 1_200_000, 1_000_000]),
        1u32..4,
        0u64..1_500,
        any::<bool>(),
    )
        .prop_map(
            |(i, start, len, price_max, rate, r, min, other)| CustomerOffer {
                account: account(i),
                service: [i; 32],
                instructions: 1,
                ram_mb: 256,
                start_ms: start,
                end_ms: start + len,
                price_max,
                rate_milli: rate,
                replicas: r,
                mediators: if other { vec![account(3)] } else { vec![M] },
                min_service_ms: min,
                nonce: 0,
            },
        )
}

proptest! {
    /// Random pools over several rounds: every draft is one the ledger accepts and keeps every
    /// rule of spec 2.6, across rounds too.
    #[test]
    fn random_pools_give_valid_allocations(
        customers in prop::collection::vec(arb_customer(), 1..8),
        suppliers in prop::collection::vec(arb_supplier(), 1..10),
        rounds in prop::collection::vec(0u64..2_000, 1..4),
        rho in 2u64..200,
    ) {
        let mut p = params();
        p.penalty_rate = rho;
        let mut pool = pool(customers, suppliers);
        let mut now = 0;
        for step in rounds {
            now += step;
            let plan = allocate(&pool, now, &p, TIMING);
            check_plan(&pool, &plan, now, &p);
            let before = pool.clone();
            pool.apply(&plan);
            // An offer leaves the pool only once expired or served to within δ_min of its end.
            for h in &plan.finished {
                let c = &before.customers[h];
                let served = pool_served(&before, &plan, h).max(c.start_ms);
                prop_assert!(now >= c.expiry(&TIMING) || c.end_ms - served < c.min_service_ms.max(1));
            }
        }
    }
}

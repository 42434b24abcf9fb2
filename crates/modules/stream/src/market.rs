//! Opening an allocation (Fig. 4.3 up to Running): the market, the allocator's calls and the
//! three kinds of signature, one function per call.

use crate::{hashing, store::*, terms, types::*, StreamError, NAME};
use agora_bank::Bank;
use agora_ledger::TxContext;
use agora_types::Address;
use serde_json::json;

pub(crate) type Result<T> = std::result::Result<T, StreamError>;

pub(crate) fn load_market(ctx: &mut TxContext<'_>, m: MarketId) -> Result<StreamMarket> {
    ctx.load(&market_key(m))?
        .ok_or(StreamError::UnknownMarket(m))
}

/// The allocation and its market's rules.
pub(crate) fn load(
    ctx: &mut TxContext<'_>,
    m: MarketId,
    a: AllocId,
) -> Result<(StreamParams, Allocation)> {
    let market = load_market(ctx, m)?;
    let alloc = ctx
        .load(&alloc_key(m, a))?
        .ok_or(StreamError::UnknownAllocation(a))?;
    Ok((market.params, alloc))
}

/// The allocation, refused unless it is in `state`.
pub(crate) fn load_in(
    ctx: &mut TxContext<'_>,
    m: MarketId,
    a: AllocId,
    state: State,
) -> Result<(StreamParams, Allocation)> {
    let (p, alloc) = load(ctx, m, a)?;
    if alloc.state != state {
        return Err(StreamError::WrongState(alloc.state));
    }
    Ok((p, alloc))
}

pub(crate) fn save(ctx: &mut TxContext<'_>, alloc: &Allocation) {
    ctx.store(alloc_key(alloc.market, alloc.id), alloc);
}

pub(crate) fn state_changed(ctx: &mut TxContext<'_>, alloc: &Allocation) {
    ctx.emit(
        NAME,
        "StateChanged",
        &json!({"market": alloc.market, "allocation": alloc.id, "state": alloc.state,
            "outcome": alloc.outcome, "terms_hash": alloc.terms_hash.map(hex)}),
    );
}

pub(crate) fn hex(h: Hash) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn create_market(ctx: &mut TxContext<'_>, params: StreamParams) -> Result<()> {
    terms::check_params(&params).map_err(StreamError::InvalidParams)?;
    let id = ctx.load_u64(&next_market_key())?;
    ctx.store_u64(
        next_market_key(),
        id.checked_add(1).ok_or(StreamError::Overflow)?,
    );
    ctx.store(
        market_key(id),
        &StreamMarket {
            id,
            params: params.clone(),
            next_allocation: 0,
        },
    );
    ctx.emit(
        NAME,
        "MarketCreated",
        &json!({"market": id, "params": params, "treasury": treasury(id)}),
    );
    Ok(())
}

pub fn create_allocation(ctx: &mut TxContext<'_>, m: MarketId, t: Terms) -> Result<()> {
    let mut market = load_market(ctx, m)?;
    let p = &market.params;
    let derived = terms::derive(p, &t)?;
    let now = ctx.timestamp();
    if now >= t.end_ms {
        return Err(StreamError::TooLate);
    }
    let allocator = ctx.sender();
    let open = ctx.load_u64(&open_by_key(m, &allocator))?;
    if open >= u64::from(p.max_open_per_allocator) {
        return Err(StreamError::TooManyOpen);
    }
    ctx.store_u64(open_by_key(m, &allocator), open + 1);
    let id = market.next_allocation;
    market.next_allocation = id.checked_add(1).ok_or(StreamError::Overflow)?;
    let alloc = Allocation {
        market: m,
        id,
        allocator,
        terms: t,
        derived,
        created_ms: now,
        state: State::Allocated,
        outcome: None,
        terms_hash: None,
        mediator_signed: false,
        escrow_hold: None,
        deposit_hold: None,
        commitments: Vec::new(),
        revealed: false,
        slots: Vec::new(),
        mediation: None,
    };
    for who in [allocator, alloc.terms.customer, alloc.terms.mediator] {
        ctx.store(party_key(m, &who, id), &());
    }
    ctx.store(open_key(m, id), &());
    ctx.emit(
        NAME,
        "AllocationCreated",
        &json!({"market": m, "allocation": id, "allocator": allocator, "terms": alloc.terms,
            "derived": alloc.derived, "sign_deadline_ms": alloc.sign_deadline(&market.params),
            "reveal_deadline_ms": alloc.reveal_deadline(&market.params),
            "post_deadline_ms": alloc.post_deadline(&market.params)}),
    );
    save(ctx, &alloc);
    ctx.store(market_key(m), &market);
    Ok(())
}

/// Refused once signing timed out (D_sign).
fn before_sign_deadline(ctx: &TxContext<'_>, p: &StreamParams, alloc: &Allocation) -> Result<()> {
    if ctx.timestamp() >= alloc.sign_deadline(p) {
        return Err(StreamError::TooLate);
    }
    Ok(())
}

pub fn add_supplier(
    ctx: &mut TxContext<'_>,
    m: MarketId,
    a: AllocId,
    supplier: Address,
    offer: Hash,
    done: bool,
) -> Result<()> {
    let (p, mut alloc) = load_in(ctx, m, a, State::Allocated)?;
    if ctx.sender() != alloc.allocator {
        return Err(StreamError::NotAllocator);
    }
    before_sign_deadline(ctx, &p, &alloc)?;
    if supplier == alloc.terms.customer
        || supplier == alloc.terms.mediator
        || alloc.slots.iter().any(|s| s.supplier == supplier)
    {
        return Err(StreamError::DuplicateParty);
    }
    // An allocation with r slots is in Signing: the r-th slot must be `done`.
    let r = alloc.terms.replicas as usize;
    if done != (alloc.slots.len() + 1 == r) {
        return Err(StreamError::ReplicasMismatch);
    }
    alloc.slots.push(Slot {
        supplier,
        offer,
        hold: None,
        gamma: None,
        matches: false,
    });
    ctx.store(party_key(m, &supplier, a), &());
    ctx.emit(
        NAME,
        "SupplierAdded",
        &json!({"market": m, "allocation": a, "slot": alloc.slots.len() - 1,
            "supplier": supplier, "offer_hash": hex(offer)}),
    );
    if done {
        alloc.terms_hash = Some(hashing::terms_hash(
            m,
            a,
            &alloc.allocator,
            &alloc.terms,
            &alloc.slots,
        ));
        alloc.state = State::Signing;
        state_changed(ctx, &alloc);
    }
    save(ctx, &alloc);
    Ok(())
}

/// The allocation in Signing, before D_sign, with the terms the signer saw.
fn signing(
    ctx: &mut TxContext<'_>,
    m: MarketId,
    a: AllocId,
    terms_hash: Hash,
) -> Result<(StreamParams, Allocation)> {
    let (p, alloc) = load_in(ctx, m, a, State::Signing)?;
    before_sign_deadline(ctx, &p, &alloc)?;
    if alloc.terms_hash != Some(terms_hash) {
        return Err(StreamError::TermsMismatch);
    }
    Ok((p, alloc))
}

fn signed(ctx: &mut TxContext<'_>, alloc: &Allocation, role: Role, extra: serde_json::Value) {
    ctx.emit(
        NAME,
        "Signed",
        &json!({"market": alloc.market, "allocation": alloc.id, "role": role,
            "party": ctx.sender(), "holds": extra}),
    );
}

pub fn mediator_sign(ctx: &mut TxContext<'_>, m: MarketId, a: AllocId, th: Hash) -> Result<()> {
    let (p, mut alloc) = signing(ctx, m, a, th)?;
    if ctx.sender() != alloc.terms.mediator {
        return Err(StreamError::NotMediator);
    }
    if alloc.mediator_signed {
        return Err(StreamError::AlreadySigned);
    }
    alloc.mediator_signed = true;
    signed(ctx, &alloc, Role::Mediator, json!(null));
    maybe_start(ctx, &p, &mut alloc)
}

/// The customer signs with Γ_i for every slot and puts up its escrow P_c and deposit F_c.
pub fn customer_sign(
    ctx: &mut TxContext<'_>,
    m: MarketId,
    a: AllocId,
    th: Hash,
    commitments: Vec<Hash>,
) -> Result<()> {
    let (p, mut alloc) = signing(ctx, m, a, th)?;
    let customer = alloc.terms.customer;
    if ctx.sender() != customer {
        return Err(StreamError::NotCustomer);
    }
    if alloc.escrow_hold.is_some() {
        return Err(StreamError::AlreadySigned);
    }
    if commitments.len() != alloc.slots.len() {
        return Err(StreamError::BadCommitment {
            expected: alloc.slots.len(),
            got: commitments.len(),
        });
    }
    let d = &alloc.derived;
    let escrow = Bank::hold(ctx, &customer, d.escrow, &controller())?;
    let deposit = Bank::hold(ctx, &customer, d.customer_fine, &controller())?;
    alloc.escrow_hold = Some(escrow);
    alloc.deposit_hold = Some(deposit);
    alloc.commitments = commitments;
    let holds = json!({"escrow": d.escrow, "deposit": d.customer_fine});
    signed(ctx, &alloc, Role::Customer, holds);
    maybe_start(ctx, &p, &mut alloc)
}

/// A slot's supplier signs and puts up its deposit F_s.
pub fn supplier_sign(ctx: &mut TxContext<'_>, m: MarketId, a: AllocId, th: Hash) -> Result<()> {
    let (p, mut alloc) = signing(ctx, m, a, th)?;
    let supplier = ctx.sender();
    let i = slot_of(&alloc, &supplier)?;
    if alloc.slots[i].hold.is_some() {
        return Err(StreamError::AlreadySigned);
    }
    let fine = alloc.derived.supplier_fine;
    alloc.slots[i].hold = Some(Bank::hold(ctx, &supplier, fine, &controller())?);
    signed(
        ctx,
        &alloc,
        Role::Supplier,
        json!({"slot": i, "deposit": fine}),
    );
    maybe_start(ctx, &p, &mut alloc)
}

/// The slot of the signer (identity from the signature, never from an argument).
pub(crate) fn slot_of(alloc: &Allocation, who: &Address) -> Result<usize> {
    alloc
        .slots
        .iter()
        .position(|s| s.supplier == *who)
        .ok_or(StreamError::NotSupplier)
}

/// "Everyone signed / pay allocator" (Fig. 4.3): once the mediator, the customer and every
/// supplier signed, π_A leaves the customer's escrow for the allocator and the allocation runs.
fn maybe_start(ctx: &mut TxContext<'_>, p: &StreamParams, alloc: &mut Allocation) -> Result<()> {
    if alloc.all_signed() {
        let escrow = alloc.escrow_hold.ok_or(StreamError::Corrupt)?;
        if p.allocator_fee > 0 {
            Bank::slash(
                ctx,
                escrow,
                p.allocator_fee,
                &alloc.allocator,
                &controller(),
            )?;
        }
        ctx.emit(
            NAME,
            "AllocatorPaid",
            &json!({"market": alloc.market, "allocation": alloc.id,
                "allocator": alloc.allocator, "amount": p.allocator_fee}),
        );
        alloc.state = State::Running;
        state_changed(ctx, alloc);
    }
    save(ctx, alloc);
    Ok(())
}

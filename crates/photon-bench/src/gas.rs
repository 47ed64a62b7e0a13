//! `photon-bench gas`: gas of every contract operation.
//!
//! Measured as a live network would see it (steady state): the contract already holds
//! other channels and tokens, every account keeps a non-zero token balance after each
//! operation, and every approve is for exactly the amount used. The very first channel of
//! a fresh deployment costs more (the contract's token balance goes from zero) and is
//! reported separately as `first_open_deposit_approve`.

use alloy::network::ReceiptResponse;
use alloy::primitives::{keccak256, Address, Bytes, B256, U256};
use alloy::rpc::types::TransactionReceipt;
use alloy::sol_types::SolValue;
use anyhow::{Context, Result};
use photon_chain::bindings::TokensNetwork;
use photon_chain::deploy::DeployParams;
use photon_primitives::eip712::{BalanceProof, CooperativeSettle, LockDisposal, Withdraw};
use photon_primitives::lock::{encode_locks, locksroot};
use photon_primitives::ChannelId;
use photon_primitives::Locksroot;
use photon_primitives::TokenAmount;
use photon_primitives::{Epoch, Nonce};
use photon_primitives::{Lock, Secret, Signer};
use photon_testkit::devnet::{balance_data, send, DevNet};

/// Settle timeout of the measured channels (blocks).
const TIMEOUT: u32 = 10;
/// Tokens minted to every account up front: nobody's balance ever reaches zero.
const FUNDS: u128 = 1_000_000_000_000_000_000_000_000;

/// What raiden-contracts 0.50.2 uses for the same operation on anvil 1.7.1 in steady
/// state, and the targets of the issue. `None`: no reference for that key.
const REFERENCE: &[(&str, Option<u64>, Option<u64>)] = &[
    ("open", Some(86_442), None),
    ("open_deposit_approve", Some(176_678), None),
    ("deposit", Some(81_278), None),
    ("close_with_proof", Some(138_142), None),
    ("update", Some(90_929), None),
    ("settle", Some(93_320), None),
    ("unlock_1", Some(59_097), None),
    ("unlock_6", Some(80_377), None),
    ("unlock_20", Some(140_004), None),
    ("unlock_extra_lock", Some(4_256), Some(3_000)),
    ("cooperative_settle", Some(141_888), None),
    ("withdraw", Some(97_688), None),
    ("register_secret", Some(46_205), None),
    ("register_secret_batch_3", Some(97_510), None),
    ("lifecycle_uncooperative", Some(571_377), Some(400_000)),
    ("lifecycle_cooperative", Some(390_874), Some(250_000)),
];

/// Measured gas per operation, in measurement order.
pub(crate) struct Report {
    rows: Vec<(&'static str, u64)>,
}

impl Report {
    fn add(&mut self, key: &'static str, gas: u64) {
        self.rows.push((key, gas));
    }

    fn get(&self, key: &str) -> u64 {
        self.rows.iter().find(|(k, _)| *k == key).map_or(0, |(_, g)| *g)
    }

    /// One JSON object, metric name → gas.
    pub(crate) fn to_json(&self) -> String {
        let map: serde_json::Map<String, serde_json::Value> =
            self.rows.iter().map(|(k, g)| ((*k).to_string(), (*g).into())).collect();
        serde_json::Value::Object(map).to_string()
    }

    /// A table with the Raiden reference and target of each operation.
    pub(crate) fn to_table(&self) -> String {
        let mut out = format!(
            "{:<30} {:>10} {:>10} {:>10}  {}\n",
            "operation", "gas", "raiden", "target", ""
        );
        for (key, gas) in &self.rows {
            let (raiden, target) = REFERENCE
                .iter()
                .find(|(k, _, _)| k == key)
                .map_or((None, None), |(_, r, t)| (*r, *t));
            let limit = target.or(raiden);
            let verdict = match limit {
                Some(l) if *gas <= l && target.is_some() => "meets target",
                Some(l) if *gas < l => "below raiden",
                Some(_) => "MISSES",
                None => "",
            };
            let show = |v: Option<u64>| v.map_or_else(|| "-".to_string(), |v| v.to_string());
            out += &format!(
                "{:<30} {:>10} {:>10} {:>10}  {}\n",
                key,
                gas,
                show(raiden),
                show(target),
                verdict
            );
        }
        out
    }
}

/// `x` whole tokens of 18 decimals: realistic amounts, so calldata costs what it costs live.
const fn t(x: u128) -> u128 {
    x * 1_000_000_000_000_000_000
}

fn gas(receipt: &TransactionReceipt) -> u64 {
    receipt.gas_used()
}

fn secret(tag: &str, i: usize) -> Secret {
    Secret(keccak256(format!("{tag}-{i}")))
}

fn sig(net: &DevNet, who: usize, digest: &B256) -> Bytes {
    net.accounts[who].sign_digest(digest).expect("local signing cannot fail").0.to_vec().into()
}

/// Runs every measurement on a fresh dev network.
pub(crate) async fn measure() -> Result<Report> {
    let params = DeployParams { punish_blocks: 5, min_settle_timeout: 5, max_settle_timeout: 1000 };
    let net = DevNet::start_with(&params).await.context("starting anvil and deploying")?;
    let mut report = Report { rows: Vec::new() };
    let n = net.accounts.len();
    anyhow::ensure!(n >= 10, "anvil must provide 10 accounts");
    for i in 0..n {
        net.mint(net.address(i), FUNDS).await?;
    }
    let token = *net.token.address();
    let tn = net.deployment.tokens_network;
    let a = |i: usize| net.address(i);

    // The first channel of a fresh deployment.
    let approve = gas(&net.approve(a(1), t(100)).await?);
    let open =
        gas(&send(net.network.openChannelWithDeposit(token, a(2), TIMEOUT, t(100)).from(a(1)))
            .await?);
    report.add("first_open_deposit_approve", approve + open);
    // Another long-lived channel, so the contract holds channels and tokens.
    send(net.network.openChannel(token, a(9), TIMEOUT).from(a(8))).await?;
    for (who, partner) in [(8, 9), (9, 8)] {
        net.approve(a(who), t(1000)).await?;
        send(net.network.deposit(token, a(who), a(partner), t(1000)).from(a(who))).await?;
    }

    // The uncooperative lifecycle, on accounts 3 and 4.
    let open = gas(&send(net.network.openChannel(token, a(4), TIMEOUT).from(a(3))).await?);
    net.approve(a(3), t(100)).await?;
    let deposit = gas(&send(net.network.deposit(token, a(3), a(4), t(100)).from(a(3))).await?);
    net.approve(a(4), t(80)).await?;
    let deposit2 = gas(&send(net.network.deposit(token, a(4), a(3), t(80)).from(a(4))).await?);
    let epoch = net.epoch(a(3), a(4)).await?;
    let (p3, s3) = net.balance_proof(3, a(4), epoch, 2, t(30), 0, Locksroot(B256::ZERO));
    let (p4, s4) = net.balance_proof(4, a(3), epoch, 1, t(10), 0, Locksroot(B256::ZERO));
    let close =
        gas(&send(net.network.closeChannel(token, a(4), p4, s4.0.to_vec().into()).from(a(3)))
            .await?);
    let update = gas(&send(
        net.network.updateBalanceProof(token, a(3), p3, s3.0.to_vec().into()).from(a(4)),
    )
    .await?);
    net.mine(u64::from(TIMEOUT) + params.punish_blocks + 1).await?;
    let settle = gas(&send(net.network.settleChannel(token, a(3), a(4))).await?);
    report.add("open", open);
    report.add("deposit", deposit);
    report.add("deposit_second_side", deposit2);
    report.add("close_with_proof", close);
    report.add("update", update);
    report.add("settle", settle);
    report.add("lifecycle_uncooperative", open + deposit + deposit2 + close + update + settle);

    // The cooperative lifecycle, on the same accounts (the channel is re-opened).
    let open = gas(&send(net.network.openChannel(token, a(4), TIMEOUT).from(a(3))).await?);
    net.approve(a(3), t(100)).await?;
    let deposit = gas(&send(net.network.deposit(token, a(3), a(4), t(100)).from(a(3))).await?);
    net.approve(a(4), t(80)).await?;
    let deposit2 = gas(&send(net.network.deposit(token, a(4), a(3), t(80)).from(a(4))).await?);
    let epoch = net.epoch(a(3), a(4)).await?;
    let (p1, p2) = if a(3) < a(4) { (3, 4) } else { (4, 3) };
    let balances = |i: usize| if i == 3 { t(70) } else { t(110) };
    let msg = CooperativeSettle {
        channelId: B256::from(net.channel_id(a(3), a(4))),
        epoch,
        participant1: a(p1),
        balance1: balances(p1),
        participant2: a(p2),
        balance2: balances(p2),
    };
    let digest = net.domain.digest(&msg);
    let coop = gas(&send(net.network.cooperativeSettle(
        token,
        a(p1),
        balances(p1),
        a(p2),
        balances(p2),
        sig(&net, p1, &digest),
        sig(&net, p2, &digest),
    ))
    .await?);
    report.add("cooperative_settle", coop);
    report.add("lifecycle_cooperative", open + deposit + deposit2 + coop);

    // Open with deposit (approve path); then a close without proof and a delegate update.
    let approve = gas(&net.approve(a(5), t(100)).await?);
    let open =
        gas(&send(net.network.openChannelWithDeposit(token, a(6), TIMEOUT, t(100)).from(a(5)))
            .await?);
    report.add("open_deposit_approve", approve + open);
    let epoch = net.epoch(a(5), a(6)).await?;
    let proof = BalanceProof::new(
        net.channel_id(a(5), a(6)),
        Epoch(epoch),
        Nonce(3),
        TokenAmount(t(40)),
        TokenAmount(0),
        Locksroot(B256::ZERO),
        B256::ZERO,
    );
    let proof_sig = sig(&net, 5, &net.domain.balance_proof(&proof));
    let consent = sig(&net, 6, &net.domain.delegate_update_for(&proof));
    let close = gas(&send(
        net.network
            .closeChannel(
                token,
                a(6),
                balance_data(&BalanceProof::new(
                    ChannelId(B256::ZERO),
                    Epoch(0),
                    Nonce(0),
                    TokenAmount(0),
                    TokenAmount(0),
                    Locksroot(B256::ZERO),
                    B256::ZERO,
                )),
                Bytes::new(),
            )
            .from(a(5)),
    )
    .await?);
    report.add("close", close);
    let delegate = gas(&send(
        net.network
            .updateBalanceProofDelegate(token, a(6), a(5), balance_data(&proof), proof_sig, consent)
            .from(a(0)),
    )
    .await?);
    report.add("update_delegate", delegate);

    // Withdraw without closing, on the long-lived channel.
    let epoch = net.epoch(a(8), a(9)).await?;
    let expiry = net.block_number().await? + 20;
    let deposit9 = net.network.getParticipantInfo(token, a(9), a(8)).call().await?.depositAmount;
    let msg = Withdraw {
        channelId: B256::from(net.channel_id(a(8), a(9))),
        epoch,
        participant: a(9),
        participantDeposit: deposit9,
        participantBalance: t(1000),
        amount: t(100),
        expiry,
    };
    let digest = net.domain.digest(&msg);
    let withdraw = gas(&send(net.network.withdraw(
        token,
        a(9),
        a(8),
        deposit9,
        t(1000),
        t(100),
        expiry,
        sig(&net, 9, &digest),
        sig(&net, 8, &digest),
    ))
    .await?);
    report.add("withdraw", withdraw);

    // ERC223: the contract already holds this token through another channel.
    let t223 = net.deploy_erc223("P223").await?;
    let taac = net.deploy_approve_and_call("PAAC").await?;
    for i in 0..n {
        send(t223.mint(a(i), U256::from(FUNDS))).await?;
        send(taac.mint(a(i), U256::from(FUNDS))).await?;
    }
    let data = |partner: Address| -> Bytes { (partner, TIMEOUT).abi_encode().into() };
    send(t223.transfer_1(tn, U256::from(t(100)), data(a(9))).from(a(8))).await?;
    let erc223 = gas(&send(t223.transfer_1(tn, U256::from(t(100)), data(a(7))).from(a(1))).await?);
    report.add("open_deposit_erc223", erc223);
    send(taac.approveAndCall(tn, U256::from(t(100)), data(a(9))).from(a(8))).await?;
    let aac = gas(&send(taac.approveAndCall(tn, U256::from(t(100)), data(a(7))).from(a(1))).await?);
    report.add("open_deposit_approve_and_call", aac);

    // The secret registry.
    let one = gas(&send(net.registry.registerSecret(secret("single", 0).0)).await?);
    report.add("register_secret", one);
    let batch: Vec<B256> = (0..3).map(|i| secret("batch", i).0).collect();
    let three = gas(&send(net.registry.registerSecretBatch(batch)).await?);
    report.add("register_secret_batch_3", three);

    // Unlocking 1, 6 and 20 locks, all with registered secrets, each on a fresh channel.
    let now = net.block_number().await?;
    for (count, receiver, key) in
        [(1usize, 1usize, "unlock_1"), (6, 2, "unlock_6"), (20, 3, "unlock_20")]
    {
        let sender = 0;
        let locks: Vec<Lock> = (0..count)
            .map(|i| Lock {
                amount: TokenAmount(t(1) / 100 + i as u128),
                expiration: now + 500,
                secrethash: secret(key, i).hash(),
            })
            .collect();
        let secrets: Vec<B256> = (0..count).map(|i| secret(key, i).0).collect();
        send(net.registry.registerSecretBatch(secrets)).await?;
        send(net.network.openChannel(token, a(receiver), TIMEOUT).from(a(sender))).await?;
        net.approve(a(sender), t(1000)).await?;
        send(net.network.deposit(token, a(sender), a(receiver), t(1000)).from(a(sender))).await?;
        let epoch = net.epoch(a(sender), a(receiver)).await?;
        let locked: u128 = locks.iter().map(|l| l.amount.0).sum();
        let (p, s) =
            net.balance_proof(sender, a(receiver), epoch, 1, t(5), locked, locksroot(&locks));
        send(net.network.closeChannel(token, a(sender), p, s.0.to_vec().into()).from(a(receiver)))
            .await?;
        let unlock = gas(&send(
            net.network
                .unlock(token, a(sender), encode_locks(&locks).into(), U256::ZERO, no_unlock())
                .from(a(receiver)),
        )
        .await?);
        report.add(key, unlock);
    }
    report.add("unlock_extra_lock", (report.get("unlock_20") - report.get("unlock_1")) / 19);

    // Punishing an obsolete unlock: 4 disposed a lock from 7, then claimed it anyway.
    let (sender, cheater) = (7usize, 4usize);
    let lock = Lock {
        amount: TokenAmount(t(10)),
        expiration: now + 500,
        secrethash: secret("punish", 0).hash(),
    };
    send(net.registry.registerSecret(secret("punish", 0).0)).await?;
    send(net.network.openChannel(token, a(cheater), TIMEOUT).from(a(sender))).await?;
    net.approve(a(sender), t(1000)).await?;
    send(net.network.deposit(token, a(sender), a(cheater), t(1000)).from(a(sender))).await?;
    let epoch = net.epoch(a(sender), a(cheater)).await?;
    let (p, s) = net.balance_proof(sender, a(cheater), epoch, 1, 0, t(10), locksroot(&[lock]));
    let disposal = LockDisposal {
        channelId: B256::from(net.channel_id(a(sender), a(cheater))),
        epoch,
        nonce: 1,
        lockHash: lock.hash(),
    };
    let disposal_sig = sig(&net, cheater, &net.domain.digest(&disposal));
    send(net.network.closeChannel(token, a(sender), p, s.0.to_vec().into()).from(a(cheater)))
        .await?;
    send(
        net.network
            .unlock(token, a(sender), encode_locks(&[lock]).into(), U256::ZERO, no_unlock())
            .from(a(cheater)),
    )
    .await?;
    let punish = gas(&send(
        net.network
            .punishObsoleteUnlock(
                token,
                a(sender),
                a(cheater),
                encode_locks(&[lock]).into(),
                TokensNetwork::UnlockState {
                    claimed: U256::from(1),
                    direct: U256::from(1),
                    voided: U256::ZERO,
                },
                U256::ZERO,
                1,
                disposal_sig,
            )
            .from(a(sender)),
    )
    .await?);
    report.add("punish", punish);
    Ok(report)
}

/// The unlock state of a locksroot never unlocked.
fn no_unlock() -> TokensNetwork::UnlockState {
    TokensNetwork::UnlockState { claimed: U256::ZERO, direct: U256::ZERO, voided: U256::ZERO }
}

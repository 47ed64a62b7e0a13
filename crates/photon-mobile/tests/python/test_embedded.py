"""Two Photon nodes embedded in one Python process through the generated UniFFI bindings,
and a third as a `photon run` process (Carol), on a dev chain.

Run by `tests/python.rs`, which starts the chain and Carol, generates the bindings and
passes everything in the JSON file named by PHOTON_TEST_CONFIG. Exits non-zero on the first
failed check.
"""

import asyncio
import json
import os
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.environ["PHOTON_BINDINGS"])
import photon_mobile as pm  # noqa: E402

CFG = json.load(open(os.environ["PHOTON_TEST_CONFIG"]))
TOKEN = CFG["token"].lower()
CAROL = CFG["carol"].lower()


def check(condition, what):
    if not condition:
        raise AssertionError(what)


class Events(pm.EventListener):
    """Collects a node's events (called on the library's event thread)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.seen = []

    def on_event(self, event):
        with self.lock:
            self.seen.append(event)

    def find(self, match):
        with self.lock:
            return [e for e in self.seen if match(e)]

    async def wait(self, what, match, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.find(match)
            if found:
                return found[0]
            await asyncio.sleep(0.05)
        raise AssertionError(f"no event: {what}; seen: {self.seen}")


async def eventually(what, probe, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def config(key, data_dir):
    return pm.NodeConfig(
        key=key,
        rpc_url=CFG["rpc"],
        deployment_json=CFG["deployment"],
        data_dir=data_dir,
        p2p_listen=["/ip4/127.0.0.1/tcp/0"],
        bootstrap=CFG["bootstrap"],
        confirmations=0,
        poll_ms=100,
        settle_timeout=100,
        payment_timeout_secs=30,
    )


def channel(node, partner):
    for c in node.channels():
        if c.token == TOKEN and c.partner == partner:
            return c
    return None


def carol_get(path):
    with urllib.request.urlopen(CFG["carol_api"] + path, timeout=10) as r:
        return json.load(r)


async def pay_once_routed(node, *args):
    # a node learns a channel of others at its next chain poll: until then it finds no route
    # and pays nothing ("not found"), so asking again is safe
    for _ in range(100):
        try:
            return await node.pay(*args)
        except pm.PhotonError.NotFound:
            await asyncio.sleep(0.1)
    return await node.pay(*args)


def alice_key(password):
    return pm.KeySource.KEYSTORE(json=CFG["alice_keystore"], password=password)


async def main():
    alice_dir, bob_dir = CFG["alice_dir"], CFG["bob_dir"]
    bob_key = pm.KeySource.RAW(private_key=bytes.fromhex(CFG["bob_key"]))

    # a wrong password is refused with the typed error, and nothing starts
    try:
        pm.PhotonNode.start(config(alice_key("not the password"), alice_dir), None)
        raise AssertionError("a wrong password was accepted")
    except pm.PhotonError.WrongPassword as e:
        check(pm.error_code(e) == "wrong_password", pm.error_code(e))
    # bad input: a clear error, nothing started
    try:
        pm.PhotonNode.start(config(pm.KeySource.RAW(private_key=b"\x01" * 31), bob_dir), None)
        raise AssertionError("a 31-byte key was accepted")
    except pm.PhotonError.BadKey:
        pass

    alice_events, bob_events = Events(), Events()
    alice = pm.PhotonNode.start(config(alice_key(CFG["alice_password"]), alice_dir), alice_events)
    bob = pm.PhotonNode.start(config(bob_key, bob_dir), bob_events)
    a, b = alice.address(), bob.address()
    check(a == CFG["alice"].lower() and b == CFG["bob"].lower(), (a, b))
    check(alice.api_addr() is None, "no REST server unless asked for")
    status = alice.status()
    check(status.chain_id == CFG["chain_id"] and status.address == a, status)

    # open, deposit (both sides), and a channel to Carol
    tx = await alice.open_channel(TOKEN, b, "1000", None)
    check(tx.startswith("0x") and len(tx) == 66, tx)
    await bob_events.wait(
        "Bob sees the channel open",
        lambda e: e.is_CHANNEL_CHANGED() and e.partner == a and e.state == "open",
    )
    await bob.deposit(TOKEN, a, "500", pm.DepositVia.APPROVE)
    await eventually("Alice sees Bob's deposit", lambda: channel(alice, b).partner_deposit == "500")
    await bob.open_channel(TOKEN, CAROL, "500", None)
    await eventually(
        "Carol sees Bob's channel",
        lambda: any(c["partner"].lower() == b for c in carol_get(f"/api/v1/channels/{TOKEN}")),
    )
    check(alice.tokens() == [TOKEN], alice.tokens())

    # pay both ways
    paid = await alice.pay(TOKEN, b, "100", None, None, b"order 17")
    check(paid.amount == "100" and paid.target == b, paid)
    got = await bob_events.wait(
        "Bob is told he was paid",
        lambda e: e.is_PAYMENT_RECEIVED() and e.payment_id == paid.payment_id,
    )
    check(got.amount == "100" and got.initiator == a and got.data == b"order 17", got)
    received = bob.payments(pm.PaymentQuery(direction=pm.Direction.RECEIVED))
    check([p.data for p in received if p.payment_id == paid.payment_id] == [b"order 17"], received)
    await alice_events.wait(
        "Alice is told her payment went through",
        lambda e: e.is_PAYMENT_SENT() and e.payment_id == paid.payment_id,
    )
    back = await bob.pay(TOKEN, a, "30", None, 4242, None)
    check(back.payment_id == 4242, back)

    # mediated: Alice pays Carol through Bob
    mediated = await pay_once_routed(alice, TOKEN, CAROL, "50", "5", None, bytes(range(256)))
    check(mediated.secrethash is not None, mediated)
    await eventually(
        "Carol is paid 50, with the data",
        lambda: any(
            p["direction"] == "received"
            and p["amount"] == "50"
            and p.get("data") == "0x" + bytes(range(256)).hex()
            for p in carol_get("/api/v1/payments")
        ),
    )


    # the network goes down: a payment waits; it is delivered once the network is back
    alice.on_network_down()
    waiting = asyncio.ensure_future(alice.pay(TOKEN, b, "10", None, 777, None))
    await asyncio.sleep(2)
    check(not waiting.done(), "a payment completed while the network was down")
    check(not bob_events.find(lambda e: e.is_PAYMENT_RECEIVED() and e.payment_id == 777), "early")
    alice.on_resume()
    late = await asyncio.wait_for(waiting, 30)
    check(late.payment_id == 777, late)
    await bob_events.wait(
        "Bob gets the payment made while Alice was offline",
        lambda e: e.is_PAYMENT_RECEIVED() and e.payment_id == 777,
    )
    # a network change (Wi-Fi to cellular) and a trip to the background lose nothing either
    alice.on_network_changed(pm.NetworkKind.CELLULAR)
    alice.enter_background()
    alice.on_resume()
    await alice.pay(TOKEN, b, "1", None, None, None)

    # the books agree on both sides
    ours, theirs = channel(alice, b), channel(bob, a)
    check(ours.balance == theirs.partner_balance, (ours, theirs))
    check(ours.partner_balance == theirs.balance, (ours, theirs))
    fee = int(mediated.fee)
    check(int(ours.balance) == 1000 - 100 + 30 - 50 - fee - 10 - 1, (ours, fee))
    history = alice.payments(pm.PaymentQuery(direction=pm.Direction.SENT))
    check(len(history) == 4, history)  # 100, 50 (mediated), 10, 1
    check(alice.pending_transfers() == [], alice.pending_transfers())
    check(
        alice_events.find(lambda e: e.is_PEER_CONNECTIVITY() and e.peer == b and e.connected),
        "Alice is told Bob connected",
    )

    # stop and start again from the data directory: balances intact
    before = alice.channels()
    alice.stop()
    try:
        alice.status()
        raise AssertionError("a stopped node answered")
    except pm.PhotonError.Stopped:
        pass
    alice = pm.PhotonNode.start(config(alice_key(CFG["alice_password"]), alice_dir), None)
    check(alice.channels() == before, (alice.channels(), before))
    again = await alice.pay(TOKEN, b, "2", None, None, None)
    check(again.amount == "2", again)

    # bad input changes nothing
    try:
        await alice.pay(TOKEN, "not an address", "1", None, None, None)
        raise AssertionError("a bad address was accepted")
    except pm.PhotonError.BadRequest:
        pass
    try:
        await alice.pay(TOKEN, b, "0", None, None, None)
        raise AssertionError("a zero payment was accepted")
    except pm.PhotonError.BadRequest:
        pass
    try:
        await alice.pay(TOKEN, b, "1", None, None, bytes(257))
        raise AssertionError("257 bytes of data were taken")
    except pm.PhotonError.BadRequest as e:
        check("257 bytes" in str(e), e)

    alice.stop()
    bob.stop()
    print("ok: embedded nodes opened, deposited, paid both ways and mediated, waited offline, "
          "restarted with their balances")


asyncio.run(main())

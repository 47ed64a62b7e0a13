//! The hash time-locked contract of the Litecoin side of a swap, a P2WSH output whose script is
//!
//! ```text
//! OP_IF
//!     OP_SHA256 <secret hash> OP_EQUALVERIFY <receiver key>
//! OP_ELSE
//!     <refund height> OP_CHECKLOCKTIMEVERIFY OP_DROP <sender key>
//! OP_ENDIF
//! OP_CHECKSIG
//! ```
//!
//! The receiver spends it with the secret (which shows the secret on chain: the other side of
//! the swap reads it there, [`Htlc::secret_in`]); from the refund height on, the sender takes it
//! back. The hash is sha256, as the Photon secret registry's, so one secret unlocks both sides.

use bitcoin::absolute::LockTime;
use bitcoin::blockdata::opcodes::all::{
    OP_CHECKSIG, OP_CLTV, OP_DROP, OP_ELSE, OP_ENDIF, OP_EQUALVERIFY, OP_IF, OP_SHA256,
};
use bitcoin::blockdata::script::{Builder, Instruction};
use bitcoin::hashes::{sha256, Hash};
use bitcoin::secp256k1::{Message, PublicKey, Secp256k1, SecretKey};
use bitcoin::sighash::{EcdsaSighashType, SighashCache};
use bitcoin::transaction::Version;
use bitcoin::{Amount, OutPoint, Script, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Witness};

/// Heights at or above this are read as Unix times by `OP_CHECKLOCKTIMEVERIFY`: a refund
/// height must stay below.
const LOCKTIME_THRESHOLD: u32 = 500_000_000;

/// The smallest output the chain relays (Litecoin's and Bitcoin's dust limit for a segwit
/// output, rounded up).
pub const DUST: Amount = Amount::from_sat(1_000);

/// Why a contract or one of its transactions cannot be made, or a script is not a contract.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HtlcError {
    /// The refund height is 0 or would be read as a time.
    #[error("refund height {0} is not a block height (1 to 499999999)")]
    RefundHeight(u32),
    /// The same key on both branches: the sender could take the coins with the secret path's
    /// key, or the receiver refund them.
    #[error("the receiver's and the sender's keys must differ")]
    SameKeys,
    /// What is left after the fee would not be relayed.
    #[error("{value} less a fee of {fee} leaves less than the dust limit {DUST}")]
    Dust {
        /// the output spent
        value: Amount,
        /// the fee asked
        fee: Amount,
    },
    /// The secret does not hash to the contract's hash.
    #[error("the secret does not hash to the contract's secret hash")]
    WrongSecret,
    /// The key does not belong to the branch it signs.
    #[error("the key is not the contract's {0} key")]
    WrongKey(&'static str),
    /// A script that is not this contract.
    #[error("not a swap contract script: {0}")]
    NotAContract(&'static str),
    /// A human-readable prefix that bech32 refuses.
    #[error("bad address prefix `{0}`")]
    Prefix(String),
}

/// A hash time-locked contract (see the [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Htlc {
    /// sha256 of the secret.
    pub secret_hash: [u8; 32],
    /// Who may spend it with the secret.
    pub receiver: PublicKey,
    /// Who may take it back from `refund_height` on.
    pub sender: PublicKey,
    /// The first block height at which the sender may take it back.
    pub refund_height: u32,
}

/// The contract output a transaction spends, and where the coins go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spend {
    /// The contract's output.
    pub outpoint: OutPoint,
    /// Its value.
    pub value: Amount,
    /// Where the coins go (the output script of the spender's address).
    pub to: ScriptBuf,
    /// The fee to leave to the miner.
    pub fee: Amount,
}

impl Htlc {
    /// A contract, checked: a refund height that is a height, two different keys.
    pub fn new(
        secret_hash: [u8; 32], receiver: PublicKey, sender: PublicKey, refund_height: u32,
    ) -> Result<Self, HtlcError> {
        if refund_height == 0 || refund_height >= LOCKTIME_THRESHOLD {
            return Err(HtlcError::RefundHeight(refund_height));
        }
        if receiver == sender {
            return Err(HtlcError::SameKeys);
        }
        Ok(Self { secret_hash, receiver, sender, refund_height })
    }

    /// The witness script.
    pub fn script(&self) -> ScriptBuf {
        Builder::new()
            .push_opcode(OP_IF)
            .push_opcode(OP_SHA256)
            .push_slice(self.secret_hash)
            .push_opcode(OP_EQUALVERIFY)
            .push_slice(self.receiver.serialize())
            .push_opcode(OP_ELSE)
            .push_int(i64::from(self.refund_height))
            .push_opcode(OP_CLTV)
            .push_opcode(OP_DROP)
            .push_slice(self.sender.serialize())
            .push_opcode(OP_ENDIF)
            .push_opcode(OP_CHECKSIG)
            .into_script()
    }

    /// The output script that pays to the contract (P2WSH).
    pub fn script_pubkey(&self) -> ScriptBuf {
        ScriptBuf::new_p2wsh(&self.script().wscript_hash())
    }

    /// The contract's address with the chain's bech32 prefix (`rltc` on Litecoin regtest,
    /// `ltc` on Litecoin, `bcrt`/`bc` on Bitcoin).
    pub fn address(&self, prefix: &str) -> Result<String, HtlcError> {
        let hrp = bitcoin::bech32::Hrp::parse(prefix)
            .map_err(|_| HtlcError::Prefix(prefix.to_string()))?;
        let program = self.script().wscript_hash().to_byte_array();
        bitcoin::bech32::segwit::encode(hrp, bitcoin::bech32::segwit::VERSION_0, &program)
            .map_err(|_| HtlcError::Prefix(prefix.to_string()))
    }

    /// Reads a witness script back into its contract (what a counterparty says it funded is
    /// checked this way, never trusted).
    pub fn from_script(script: &Script) -> Result<Self, HtlcError> {
        let mut ops = script.instructions();
        let mut next = || match ops.next() {
            Some(Ok(instruction)) => Ok(instruction),
            _ => Err(HtlcError::NotAContract("ends early or does not parse")),
        };
        let op = |want: bitcoin::Opcode, got: Instruction<'_>| match got {
            Instruction::Op(o) if o == want => Ok(()),
            _ => Err(HtlcError::NotAContract("unexpected opcode")),
        };
        let key = |got: Instruction<'_>| match got {
            Instruction::PushBytes(b) => PublicKey::from_slice(b.as_bytes())
                .map_err(|_| HtlcError::NotAContract("not a public key")),
            _ => Err(HtlcError::NotAContract("expected a key")),
        };
        op(OP_IF, next()?)?;
        op(OP_SHA256, next()?)?;
        let secret_hash: [u8; 32] = match next()? {
            Instruction::PushBytes(b) => b
                .as_bytes()
                .try_into()
                .map_err(|_| HtlcError::NotAContract("hash is not 32 bytes"))?,
            _ => return Err(HtlcError::NotAContract("expected the hash")),
        };
        op(OP_EQUALVERIFY, next()?)?;
        let receiver = key(next()?)?;
        op(OP_ELSE, next()?)?;
        let height = match next()? {
            Instruction::PushBytes(b) => bitcoin::script::read_scriptint(b.as_bytes())
                .map_err(|_| HtlcError::NotAContract("bad refund height"))?,
            Instruction::Op(o) => {
                // OP_1 … OP_16 push their number
                let code = i64::from(o.to_u8());
                if (0x51..=0x60).contains(&code) {
                    code - 0x50
                } else {
                    return Err(HtlcError::NotAContract("bad refund height"));
                }
            }
        };
        op(OP_CLTV, next()?)?;
        op(OP_DROP, next()?)?;
        let sender = key(next()?)?;
        op(OP_ENDIF, next()?)?;
        op(OP_CHECKSIG, next()?)?;
        if ops.next().is_some() {
            return Err(HtlcError::NotAContract("goes on after OP_CHECKSIG"));
        }
        let refund_height =
            u32::try_from(height).map_err(|_| HtlcError::NotAContract("bad refund height"))?;
        let htlc = Self::new(secret_hash, receiver, sender, refund_height)?;
        // one encoding only: what parses must be what we would write
        if htlc.script().as_script() != script {
            return Err(HtlcError::NotAContract("not minimally encoded"));
        }
        Ok(htlc)
    }

    /// The receiver's transaction: the contract's coins to `spend.to`, unlocked by `secret`.
    pub fn claim(
        &self, spend: &Spend, secret: [u8; 32], receiver_key: &SecretKey,
    ) -> Result<Transaction, HtlcError> {
        if sha256::Hash::hash(&secret).to_byte_array() != self.secret_hash {
            return Err(HtlcError::WrongSecret);
        }
        let tx = self.unsigned(spend, LockTime::ZERO, Sequence::MAX)?;
        let signature = self.sign(&tx, spend.value, receiver_key, &self.receiver, "receiver")?;
        let mut witness = Witness::new();
        witness.push(signature);
        witness.push(secret);
        witness.push([1u8]); // OP_IF's branch: exactly 0x01 (segwit's minimal-if rule)
        witness.push(self.script().as_bytes());
        Ok(with_witness(tx, witness))
    }

    /// The sender's transaction: the contract's coins back to `spend.to`, valid from the refund
    /// height on (the chain refuses it before).
    pub fn refund(&self, spend: &Spend, sender_key: &SecretKey) -> Result<Transaction, HtlcError> {
        let lock_time = LockTime::from_height(self.refund_height)
            .map_err(|_| HtlcError::RefundHeight(self.refund_height))?;
        // a final sequence would disable the lock time
        let tx = self.unsigned(spend, lock_time, Sequence::ENABLE_LOCKTIME_NO_RBF)?;
        let signature = self.sign(&tx, spend.value, sender_key, &self.sender, "sender")?;
        let mut witness = Witness::new();
        witness.push(signature);
        witness.push([0u8; 0]); // OP_ELSE's branch: the empty element
        witness.push(self.script().as_bytes());
        Ok(with_witness(tx, witness))
    }

    /// The secret a transaction shows by spending this contract's output with it, if it does:
    /// what the other side of the swap needs to claim its own lock.
    pub fn secret_in(&self, tx: &Transaction) -> Option<[u8; 32]> {
        let script = self.script();
        tx.input.iter().find_map(|input| {
            let items: Vec<&[u8]> = input.witness.iter().collect();
            // signature, secret, 0x01, the script
            if items.len() != 4 || items[3] != script.as_bytes() {
                return None;
            }
            let secret: [u8; 32] = items[1].try_into().ok()?;
            (sha256::Hash::hash(&secret).to_byte_array() == self.secret_hash).then_some(secret)
        })
    }

    fn unsigned(
        &self, spend: &Spend, lock_time: LockTime, sequence: Sequence,
    ) -> Result<Transaction, HtlcError> {
        let out = spend
            .value
            .checked_sub(spend.fee)
            .filter(|left| *left >= DUST)
            .ok_or(HtlcError::Dust { value: spend.value, fee: spend.fee })?;
        Ok(Transaction {
            version: Version::TWO,
            lock_time,
            input: vec![TxIn {
                previous_output: spend.outpoint,
                script_sig: ScriptBuf::new(),
                sequence,
                witness: Witness::new(),
            }],
            output: vec![TxOut { value: out, script_pubkey: spend.to.clone() }],
        })
    }

    /// A BIP143 signature of input 0 (SIGHASH_ALL), DER with its sighash byte.
    fn sign(
        &self, tx: &Transaction, value: Amount, key: &SecretKey, expected: &PublicKey,
        branch: &'static str,
    ) -> Result<Vec<u8>, HtlcError> {
        let secp = Secp256k1::new();
        if PublicKey::from_secret_key(&secp, key) != *expected {
            return Err(HtlcError::WrongKey(branch));
        }
        let script = self.script();
        let digest = SighashCache::new(tx)
            .p2wsh_signature_hash(0, &script, value, EcdsaSighashType::All)
            .map_err(|_| HtlcError::NotAContract("no input 0"))?;
        let signature = secp.sign_ecdsa(&Message::from_digest(digest.to_byte_array()), key);
        Ok(bitcoin::ecdsa::Signature::sighash_all(signature).to_vec())
    }
}

fn with_witness(mut tx: Transaction, witness: Witness) -> Transaction {
    tx.input[0].witness = witness;
    tx
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::hashes::Hash;

    fn key(byte: u8) -> (SecretKey, PublicKey) {
        let secret = SecretKey::from_slice(&[byte; 32]).unwrap();
        (secret, PublicKey::from_secret_key(&Secp256k1::new(), &secret))
    }

    fn contract(height: u32) -> (Htlc, [u8; 32], SecretKey, SecretKey) {
        let secret = [7u8; 32];
        let (rk, receiver) = key(1);
        let (sk, sender) = key(2);
        let hash = sha256::Hash::hash(&secret).to_byte_array();
        (Htlc::new(hash, receiver, sender, height).unwrap(), secret, rk, sk)
    }

    fn spend() -> Spend {
        Spend {
            outpoint: OutPoint { txid: bitcoin::Txid::all_zeros(), vout: 1 },
            value: Amount::from_sat(100_000),
            to: ScriptBuf::new_p2wsh(&bitcoin::WScriptHash::all_zeros()),
            fee: Amount::from_sat(500),
        }
    }

    #[test]
    fn the_script_reads_back_and_only_its_own_encoding_does() {
        for height in [1, 16, 17, 200, 65_535, 1_000_000, LOCKTIME_THRESHOLD - 1] {
            let (htlc, ..) = contract(height);
            assert_eq!(Htlc::from_script(&htlc.script()), Ok(htlc), "{height}");
        }
        let (htlc, ..) = contract(300);
        let mut bytes = htlc.script().into_bytes();
        bytes.push(0x51);
        assert!(Htlc::from_script(&ScriptBuf::from_bytes(bytes)).is_err(), "trailing opcode");
        let bytes = htlc.script().into_bytes();
        assert!(
            Htlc::from_script(&ScriptBuf::from_bytes(bytes[..bytes.len() - 1].to_vec())).is_err()
        );
        assert!(Htlc::from_script(&ScriptBuf::new()).is_err());
    }

    #[test]
    fn bad_contracts_and_bad_spends_are_refused() {
        let (_, a) = key(1);
        let (_, b) = key(2);
        assert_eq!(Htlc::new([0; 32], a, b, 0), Err(HtlcError::RefundHeight(0)));
        assert_eq!(
            Htlc::new([0; 32], a, b, LOCKTIME_THRESHOLD),
            Err(HtlcError::RefundHeight(LOCKTIME_THRESHOLD))
        );
        assert_eq!(Htlc::new([0; 32], a, a, 10), Err(HtlcError::SameKeys));
        let (htlc, secret, rk, sk) = contract(300);
        assert_eq!(htlc.claim(&spend(), [8; 32], &rk), Err(HtlcError::WrongSecret));
        assert_eq!(htlc.claim(&spend(), secret, &sk), Err(HtlcError::WrongKey("receiver")));
        assert_eq!(htlc.refund(&spend(), &rk), Err(HtlcError::WrongKey("sender")));
        let dear = Spend { fee: Amount::from_sat(99_500), ..spend() };
        assert!(matches!(htlc.claim(&dear, secret, &rk), Err(HtlcError::Dust { .. })));
    }

    #[test]
    fn a_claim_shows_the_secret_and_a_refund_waits_for_its_height() {
        let (htlc, secret, rk, sk) = contract(300);
        let claim = htlc.claim(&spend(), secret, &rk).unwrap();
        assert_eq!(htlc.secret_in(&claim), Some(secret));
        assert_eq!(claim.lock_time, LockTime::ZERO);
        let refund = htlc.refund(&spend(), &sk).unwrap();
        assert_eq!(htlc.secret_in(&refund), None);
        assert_eq!(refund.lock_time, LockTime::from_height(300).unwrap());
        assert!(refund.input[0].sequence.enables_absolute_lock_time());
        // another contract's claim shows nothing for this one
        let (other, other_secret, ork, _) = {
            let (h, _, r, s) = contract(301);
            (h, secret, r, s)
        };
        let elsewhere = other.claim(&spend(), other_secret, &ork).unwrap();
        assert_eq!(htlc.secret_in(&elsewhere), None);
    }

    #[test]
    fn addresses_take_the_chains_prefix() {
        let (htlc, ..) = contract(300);
        assert!(htlc.address("rltc").unwrap().starts_with("rltc1q"));
        assert!(htlc.address("ltc").unwrap().starts_with("ltc1q"));
        assert!(htlc.address("not a prefix").is_err());
    }
}

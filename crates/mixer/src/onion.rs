//! Layered encryption of an output account: one HPKE layer per later member of the run.
//!
//! A layer is `encapsulated key (32 bytes) || ChaCha20-Poly1305 ciphertext`, sealed to the
//! member's run key with `info` binding the session, the run and the member's position, so a
//! layer cannot be moved to another run or position.

use crate::MixError;
use hpke::{
    aead::ChaCha20Poly1305, kdf::HkdfSha256, kem::X25519HkdfSha256, Deserializable, Kem, OpModeR,
    OpModeS, Serializable,
};

type K = X25519HkdfSha256;
const ENCAPPED: usize = 32;

/// A run's key pair for one member: (decryption key, encryption key) as bytes.
pub fn keypair() -> ([u8; 32], [u8; 32]) {
    let (sk, pk) = K::gen_keypair();
    (to_array(&sk.to_bytes()), to_array(&pk.to_bytes()))
}

/// The encryption key that belongs to `dk`, or `None` if `dk` is not a key.
pub fn public_of(dk: &[u8; 32]) -> Option<[u8; 32]> {
    let sk = <K as Kem>::PrivateKey::from_bytes(dk).ok()?;
    Some(to_array(&K::sk_to_pk(&sk).to_bytes()))
}

/// Whether anyone can encrypt to `ek`: a low-order point (the all-zero key, for one) makes
/// every Diffie-Hellman result zero, which HPKE refuses. The result does not depend on the
/// fresh ephemeral key of the trial: a clamped scalar zeroes exactly the low-order points.
pub fn valid_key(ek: &[u8; 32]) -> bool {
    seal(&[0; 32], 0, 0, ek, &[]).is_ok()
}

fn to_array(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(&bytes[..32]);
    out
}

fn info(session: &[u8; 32], run: u32, position: usize) -> Vec<u8> {
    let mut info = b"agora-mix-layer-v1".to_vec();
    info.extend_from_slice(session);
    info.extend_from_slice(&run.to_be_bytes());
    info.extend_from_slice(&(position as u32).to_be_bytes());
    info
}

/// Seals `plaintext` to the member at `position` whose run key is `ek`.
pub fn seal(
    session: &[u8; 32],
    run: u32,
    position: usize,
    ek: &[u8; 32],
    plaintext: &[u8],
) -> Result<Vec<u8>, MixError> {
    let pk = <K as Kem>::PublicKey::from_bytes(ek).map_err(|e| MixError::Crypto(e.to_string()))?;
    let (encapped, ct) = hpke::single_shot_seal::<ChaCha20Poly1305, HkdfSha256, K>(
        &OpModeS::Base,
        &pk,
        &info(session, run, position),
        plaintext,
        &[],
    )
    .map_err(|e| MixError::Crypto(e.to_string()))?;
    let mut out = encapped.to_bytes().to_vec();
    out.extend_from_slice(&ct);
    Ok(out)
}

/// Removes the layer of the member at `position`; `None` if it is not such a layer.
pub fn open(
    session: &[u8; 32],
    run: u32,
    position: usize,
    dk: &[u8; 32],
    layer: &[u8],
) -> Option<Vec<u8>> {
    let sk = <K as Kem>::PrivateKey::from_bytes(dk).ok()?;
    let (encapped, ct) = layer.split_at_checked(ENCAPPED)?;
    let encapped = <K as Kem>::EncappedKey::from_bytes(encapped).ok()?;
    hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, K>(
        &OpModeR::Base,
        &sk,
        &encapped,
        &info(session, run, position),
        ct,
        &[],
    )
    .ok()
}

/// Wraps `output` for the members after `position`: the outermost layer is `position + 1`'s.
pub fn wrap(
    session: &[u8; 32],
    run: u32,
    position: usize,
    eks: &[[u8; 32]],
    output: &[u8],
) -> Result<Vec<u8>, MixError> {
    let mut c = output.to_vec();
    for k in (position + 1..eks.len()).rev() {
        c = seal(session, run, k, &eks[k], &c)?;
    }
    Ok(c)
}

/// Strips the layers of members `from..` in order: what the last of them would see.
pub fn unwrap_from(
    session: &[u8; 32],
    run: u32,
    from: usize,
    dks: &[[u8; 32]],
    layer: &[u8],
) -> Option<Vec<u8>> {
    let mut c = layer.to_vec();
    for (k, dk) in dks.iter().enumerate().skip(from) {
        c = open(session, run, k, dk, &c)?;
    }
    Some(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapped_outputs_open_layer_by_layer_and_nowhere_else() {
        let keys: Vec<_> = (0..4).map(|_| keypair()).collect();
        let eks: Vec<_> = keys.iter().map(|k| k.1).collect();
        let dks: Vec<_> = keys.iter().map(|k| k.0).collect();
        let s = [3; 32];
        let c = wrap(&s, 0, 0, &eks, &[9; 32]).unwrap();
        assert_eq!(c.len(), 32 + 3 * 48);
        assert_eq!(unwrap_from(&s, 0, 1, &dks, &c), Some(vec![9; 32]));
        // Wrong member, wrong run, wrong position: nothing opens.
        assert_eq!(open(&s, 0, 1, &dks[2], &c), None);
        assert_eq!(open(&s, 1, 1, &dks[1], &c), None);
        assert_eq!(open(&s, 0, 2, &dks[1], &c), None);
        assert_eq!(open(&s, 0, 1, &dks[1], &c[..10]), None);
        assert_eq!(public_of(&dks[1]), Some(eks[1]));
    }

    #[test]
    fn low_order_keys_are_invalid() {
        assert!(valid_key(&keypair().1));
        // The all-zero point, the point of order 4 (u = 1) and one of order 8.
        let mut order8 = [0u8; 32];
        order8[..8].copy_from_slice(&[0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae]);
        order8[8..16].copy_from_slice(&[0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4, 0x6a]);
        order8[16..24].copy_from_slice(&[0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd]);
        order8[24..].copy_from_slice(&[0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00]);
        let mut one = [0u8; 32];
        one[0] = 1;
        for bad in [[0u8; 32], one, order8] {
            assert!(!valid_key(&bad), "{bad:?}");
        }
    }
}

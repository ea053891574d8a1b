//! OpenSSL's subject-name hash, computed from a certificate's DER without
//! OpenSSL parsing the certificate.
//!
//! A hashed certificate directory (`SSL_CERT_DIR`, `c_rehash`) names each
//! certificate `<hash>.<n>`, where `<hash>` is `X509_NAME_hash`: the first
//! four bytes (little-endian) of the SHA-1 of the subject's *canonical*
//! encoding. [`crate`] indexes the bundle's roots by it, so that a
//! lookup by subject parses only the roots with the hash asked for. Parsing
//! a certificate with OpenSSL 3 costs ~0.1 ms; this reads only the subject.
//!
//! The canonical form (`x509_name_canon` in OpenSSL's `crypto/x509/x_name.c`):
//! every string value of the usual string types becomes a lower-cased (ASCII
//! only) UTF8String with leading and trailing white space removed and inner
//! runs of it collapsed to one space; each RDN is re-encoded as a DER `SET`
//! with its values sorted; the RDNs are concatenated with no outer
//! `SEQUENCE`. The tests hold this to OpenSSL's own hash for every
//! certificate in the system bundle and for names chosen to hit each rule.
//! A mistake here can only make a root unfindable (a refused connection),
//! never make an untrusted one trusted: OpenSSL still compares the names.

use std::fmt;

/// Why a certificate's subject could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed(&'static str);

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed certificate: {}", self.0)
    }
}

impl std::error::Error for Malformed {}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const UTF8_STRING: u8 = 0x0c;

/// `X509_NAME_hash` of the subject of the DER certificate `der` (a
/// `TRUSTED CERTIFICATE`'s trailing auxiliary data is ignored).
pub fn of_certificate(der: &[u8]) -> Result<u32, Malformed> {
    let (certificate, _) = Tlv::read(der)?.expect(SEQUENCE, "not a SEQUENCE")?;
    let (tbs, _) = Tlv::read(certificate)?.expect(SEQUENCE, "no tbsCertificate")?;
    let mut rest = tbs;
    let mut field = Tlv::read(rest)?;
    if field.tag == 0xa0 {
        // [0] EXPLICIT version
        rest = field.after;
        field = Tlv::read(rest)?;
    }
    // serialNumber, signature, issuer, validity: skipped.
    for _ in 0..4 {
        rest = field.after;
        field = Tlv::read(rest)?;
    }
    let (subject, _) = field.expect(SEQUENCE, "no subject")?;
    of_name(subject)
}

/// The hash of a `Name`'s contents (the RDNs inside its `SEQUENCE`).
pub fn of_name(rdns: &[u8]) -> Result<u32, Malformed> {
    let canonical = canonical_name(rdns)?;
    let digest = openssl::sha::sha1(&canonical);
    Ok(u32::from_le_bytes([
        digest[0], digest[1], digest[2], digest[3],
    ]))
}

fn canonical_name(mut rdns: &[u8]) -> Result<Vec<u8>, Malformed> {
    let mut out = Vec::with_capacity(rdns.len());
    while !rdns.is_empty() {
        let rdn = Tlv::read(rdns)?;
        rdns = rdn.after;
        let (mut values, _) = rdn.expect(SET, "an RDN is not a SET")?;
        let mut entries = Vec::new();
        while !values.is_empty() {
            let value = Tlv::read(values)?;
            values = value.after;
            let (pair, _) = value.expect(SEQUENCE, "an attribute is not a SEQUENCE")?;
            let kind = Tlv::read(pair)?;
            let data = Tlv::read(kind.after)?;
            let mut entry = kind.encoded();
            entry.extend(canonical_value(&data)?);
            entries.push(encode(SEQUENCE, &entry));
        }
        // DER orders a SET OF by the encodings (OpenSSL: memcmp, then length).
        entries.sort();
        out.extend(encode(SET, &entries.concat()));
    }
    Ok(out)
}

/// A value of one of the string types OpenSSL canonicalises, as a
/// canonical UTF8String; any other value as it was.
fn canonical_value(value: &Tlv) -> Result<Vec<u8>, Malformed> {
    let text: String = match value.tag {
        UTF8_STRING => std::str::from_utf8(value.content)
            .map_err(|_| Malformed("invalid UTF8String"))?
            .to_owned(),
        // PrintableString, T61String, IA5String, VisibleString: one byte a
        // character, read as Latin-1 the way ASN1_STRING_to_UTF8 does.
        0x13 | 0x14 | 0x16 | 0x1a => value.content.iter().map(|&b| char::from(b)).collect(),
        0x1e => utf16_units(value.content)?,
        0x1c => value
            .content
            .chunks(4)
            .map(|c| {
                <[u8; 4]>::try_from(c)
                    .ok()
                    .and_then(|c| char::from_u32(u32::from_be_bytes(c)))
                    .ok_or(Malformed("invalid UniversalString"))
            })
            .collect::<Result<_, _>>()?,
        _ => return Ok(value.encoded()),
    };
    Ok(encode(UTF8_STRING, &canonical_text(text.as_bytes())))
}

/// A BMPString's characters (UCS-2, big-endian).
fn utf16_units(content: &[u8]) -> Result<String, Malformed> {
    if content.len() % 2 != 0 {
        return Err(Malformed("invalid BMPString"));
    }
    char::decode_utf16(content.chunks(2).map(|c| u16::from_be_bytes([c[0], c[1]])))
        .collect::<Result<_, _>>()
        .map_err(|_| Malformed("invalid BMPString"))
}

/// White space trimmed and collapsed, ASCII lower-cased; bytes of other
/// characters as they are.
fn canonical_text(text: &[u8]) -> Vec<u8> {
    // OpenSSL's ossl_isspace: space, \t, \n, \v, \f, \r.
    let space = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r');
    let start = text.iter().position(|b| !space(b)).unwrap_or(text.len());
    let end = text
        .iter()
        .rposition(|b| !space(b))
        .map_or(start, |i| i + 1);
    let mut out = Vec::with_capacity(end - start);
    let mut in_space = false;
    for b in &text[start..end] {
        if space(b) {
            if !in_space {
                out.push(b' ');
            }
            in_space = true;
        } else {
            out.push(b.to_ascii_lowercase());
            in_space = false;
        }
    }
    out
}

/// One DER tag-length-value and what follows it.
struct Tlv<'a> {
    tag: u8,
    content: &'a [u8],
    after: &'a [u8],
}

impl<'a> Tlv<'a> {
    fn read(input: &'a [u8]) -> Result<Self, Malformed> {
        let short = Malformed("truncated");
        let (&tag, rest) = input.split_first().ok_or(short.clone())?;
        if tag & 0x1f == 0x1f {
            return Err(Malformed("multi-byte tag"));
        }
        let (&first, mut rest) = rest.split_first().ok_or(short.clone())?;
        let length = if first < 0x80 {
            usize::from(first)
        } else {
            let count = usize::from(first & 0x7f);
            if count == 0 || count > 4 || rest.len() < count {
                return Err(Malformed("bad length"));
            }
            let (bytes, after) = rest.split_at(count);
            rest = after;
            bytes.iter().fold(0, |n, &b| (n << 8) | usize::from(b))
        };
        if rest.len() < length {
            return Err(short);
        }
        let (content, after) = rest.split_at(length);
        Ok(Tlv {
            tag,
            content,
            after,
        })
    }

    fn expect(self, tag: u8, problem: &'static str) -> Result<(&'a [u8], &'a [u8]), Malformed> {
        if self.tag == tag {
            Ok((self.content, self.after))
        } else {
            Err(Malformed(problem))
        }
    }

    /// Re-encoded in DER (as OpenSSL re-encodes a copied value).
    fn encoded(&self) -> Vec<u8> {
        encode(self.tag, self.content)
    }
}

fn encode(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes = n.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend(&bytes[skip..]);
    }
    out.extend(content);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::asn1::Asn1Time;
    use openssl::hash::MessageDigest;
    use openssl::nid::Nid;
    use openssl::pkey::PKey;
    use openssl::x509::{X509, X509NameBuilder};

    fn certificate_named(entries: &[(Nid, &str)]) -> X509 {
        let key = PKey::generate_ed25519().unwrap();
        let mut name = X509NameBuilder::new().unwrap();
        for (nid, value) in entries {
            name.append_entry_by_nid(*nid, value).unwrap();
        }
        let name = name.build();
        let mut builder = X509::builder().unwrap();
        builder.set_subject_name(&name).unwrap();
        builder.set_issuer_name(&name).unwrap();
        builder.set_pubkey(&key).unwrap();
        builder
            .set_not_before(&Asn1Time::days_from_now(0).unwrap())
            .unwrap();
        builder
            .set_not_after(&Asn1Time::days_from_now(1).unwrap())
            .unwrap();
        builder.sign(&key, MessageDigest::null()).unwrap();
        builder.build()
    }

    #[test]
    fn equals_openssls_hash_for_every_certificate_in_the_system_bundle() {
        let Ok(bundle) = std::fs::read("/etc/ssl/certs/ca-certificates.crt") else {
            return; // not a Debian-like machine; the named cases below still run
        };
        let certificates = X509::stack_from_pem(&bundle).unwrap();
        assert!(
            certificates.len() > 100,
            "{} certificates",
            certificates.len()
        );
        for certificate in certificates {
            let der = certificate.to_der().unwrap();
            assert_eq!(
                of_certificate(&der),
                Ok(certificate.subject_name_hash()),
                "{:?}",
                certificate.subject_name()
            );
        }
    }

    #[test]
    fn equals_openssls_hash_for_names_that_hit_each_rule() {
        let cases: &[&[(Nid, &str)]] = &[
            &[],
            &[(Nid::COMMONNAME, "Plain")],
            &[(Nid::COMMONNAME, "  Leading\tand   TRAILING \r\n")],
            &[(Nid::COMMONNAME, "Ünïcödé  Ĉase ＦＵＬＬ")],
            &[
                (Nid::COUNTRYNAME, "DE"),
                (Nid::ORGANIZATIONNAME, "Über GmbH"),
            ],
            &[
                (Nid::ORGANIZATIONNAME, "Zeta"),
                (Nid::ORGANIZATIONALUNITNAME, "alpha"),
                // Past 127 bytes: long-form lengths.
                (
                    Nid::COMMONNAME,
                    "A Common Name Long Enough To Need Two Length Bytes .......",
                ),
                (
                    Nid::LOCALITYNAME,
                    "And A Locality Name Of About The Same Length, Not Short",
                ),
            ],
            &[(Nid::PKCS9_EMAILADDRESS, "Root@Example.COM")],
            &[(Nid::SERIALNUMBER, "12 34"), (Nid::DNQUALIFIER, "Q")],
        ];
        for entries in cases {
            let certificate = certificate_named(entries);
            let der = certificate.to_der().unwrap();
            assert_eq!(
                of_certificate(&der),
                Ok(certificate.subject_name_hash()),
                "{entries:?}"
            );
        }
    }

    #[test]
    fn sorts_the_values_of_a_multi_valued_rdn() {
        // CN=b+O=a: one RDN of two values, written out of DER order.
        let cn = encode(
            SEQUENCE,
            &[encode(0x06, &[0x55, 0x04, 0x03]), encode(0x13, b"B")].concat(),
        );
        let o = encode(
            SEQUENCE,
            &[encode(0x06, &[0x55, 0x04, 0x0a]), encode(0x13, b"a")].concat(),
        );
        let rdn = encode(SET, &[cn.clone(), o.clone()].concat());
        let name = openssl::x509::X509Name::from_der(&encode(SEQUENCE, &rdn)).unwrap();
        assert_eq!(of_name(&rdn), Ok(name_hash(&name)));
        let swapped = encode(SET, &[o, cn].concat());
        assert_eq!(of_name(&swapped), of_name(&rdn));
    }

    fn name_hash(name: &openssl::x509::X509NameRef) -> u32 {
        let mut builder = X509::builder().unwrap();
        builder.set_subject_name(name).unwrap();
        builder.build().subject_name_hash()
    }

    #[test]
    fn refuses_what_is_not_a_certificate() {
        assert!(of_certificate(b"").is_err());
        assert!(of_certificate(&[0x30, 0x05, 0x30]).is_err());
        assert!(of_certificate(&encode(SEQUENCE, &encode(SEQUENCE, &[]))).is_err());
    }
}

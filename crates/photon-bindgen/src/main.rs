//! `uniffi-bindgen`, built from the same UniFFI version as `photon-mobile`: generates the
//! library's bindings from the built library itself (library mode), e.g.
//! `uniffi-bindgen generate --library target/debug/libphoton_mobile.so --language python
//! --out-dir bindings/python`.

fn main() {
    uniffi::uniffi_bindgen_main()
}

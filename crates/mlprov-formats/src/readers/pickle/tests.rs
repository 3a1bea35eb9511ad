//! Tests of the restricted pickle reader.

use super::*;
use crate::dtype::DType;

const SD: Policy = Policy {
    torchscript_classes: false,
};

fn global(module: &str, name: &str) -> Vec<u8> {
    format!("c{module}\n{name}\n").into_bytes()
}

fn err(data: &[u8]) -> String {
    unpickle(data, SD).unwrap_err().to_string()
}

#[test]
fn refuses_dangerous_globals_by_name() {
    for (m, n) in [
        ("os", "system"),
        ("builtins", "eval"),
        ("subprocess", "Popen"),
        ("posix", "system"),
        ("torch", "load"),
    ] {
        let mut p = b"\x80\x02".to_vec();
        p.extend(global(m, n));
        p.extend_from_slice(b"X\x02\x00\x00\x00ls\x85R.");
        let e = unpickle(&p, SD).unwrap_err();
        assert_eq!(
            e.finding,
            Some(Finding {
                global: format!("{m}.{n}"),
                opcode: "REDUCE"
            }),
            "{e}"
        );
        // The same through STACK_GLOBAL.
        let mut p = b"\x80\x04".to_vec();
        p.push(0x8c);
        p.push(m.len() as u8);
        p.extend_from_slice(m.as_bytes());
        p.push(0x8c);
        p.push(n.len() as u8);
        p.extend_from_slice(n.as_bytes());
        p.extend_from_slice(b"\x93N\x85R.");
        assert!(err(&p).contains(&format!("`{m}.{n}`")));
    }
    // TorchScript classes only under the TorchScript policy.
    let mut p = global("__torch__.foo", "Bar");
    p.extend_from_slice(b")\x81}b.");
    assert!(err(&p).contains("`__torch__.foo.Bar`"));
    let ts = Policy {
        torchscript_classes: true,
    };
    let u = unpickle(&p, ts).unwrap();
    assert!(
        matches!(u.obj(&u.root), Some(Obj::Object { class, .. }) if &**class == "__torch__.foo.Bar")
    );
}

#[test]
fn survives_a_recursion_bomb() {
    // 100000 nested lists: ]]]]...aaaa...
    let n = 100_000;
    let mut p = b"\x80\x02".to_vec();
    p.extend(std::iter::repeat_n(b']', n));
    p.extend(std::iter::repeat_n(b'a', n - 1));
    p.push(b'.');
    let u = unpickle(&p, SD).unwrap();
    assert_eq!(u.objs.len(), n);
    drop(u); // no recursive drop
             // And as nested tuples via MARK/TUPLE.
    let mut p = b"\x80\x02".to_vec();
    p.extend(std::iter::repeat_n(b'(', n));
    p.extend(std::iter::repeat_n(b't', n));
    p.push(b'.');
    assert!(unpickle(&p, SD).is_ok());
}

#[test]
fn refuses_bad_memo_and_lengths() {
    assert!(err(b"\x80\x02h\x05.").contains("memo index 5 is not set"));
    assert!(err(b"\x80\x02j\xff\xff\xff\xff.").contains("memo index 4294967295"));
    let e = err(b"\x80\x02X\xff\xff\xff\x7fabc.");
    assert!(
        e.contains("needs 2147483647 bytes but only 4 remain"),
        "{e}"
    );
    assert!(err(b"\x80\x02\x8d\xff\xff\xff\xff\xff\xff\xff\xffab.").contains("needs"));
    assert!(err(b"\x80\x02\x8a\xffab.").contains("needs 255 bytes"));
    assert!(err(b"\x80\x02.").contains("underflow"));
    assert!(
        err(b"\x80\x02(K\x01u.").contains("underflow") || err(b"\x80\x02(K\x01u.").contains("odd")
    );
    assert!(err(b"\x80\x02K\x00K\x01K\x02s.").contains("not a dict"));
    assert!(err(b"\x80\x02\xff").contains("opcode 0xff"));
    assert!(err(b"\x80\x02").contains("truncated"));
}

#[test]
fn memo_shares_mutated_containers() {
    // d = {}; memo[0] = d; d['a'] = 1; [d, memo[0]]
    let p = b"\x80\x02]q\x01}q\x00X\x01\x00\x00\x00aK\x01sah\x00a.";
    let u = unpickle(p, SD).unwrap();
    let Some(Obj::List(l)) = u.obj(&u.root) else {
        panic!()
    };
    assert_eq!(l[0], l[1]);
    assert!(matches!(u.obj(&l[1]), Some(Obj::Dict(d)) if d.len() == 1));
}

#[test]
fn reads_a_storage_tensor() {
    // _rebuild_tensor_v2(persid(('storage', FloatStorage, '0', 'cpu', 6)), 0, (2, 3), (3, 1), False, OrderedDict())
    let mut p = b"\x80\x02".to_vec();
    p.extend(global("torch._utils", "_rebuild_tensor_v2"));
    p.push(b'(');
    p.push(b'(');
    p.extend_from_slice(b"X\x07\x00\x00\x00storage");
    p.extend(global("torch", "FloatStorage"));
    p.extend_from_slice(b"X\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x06tQ");
    p.extend_from_slice(b"K\x00K\x02K\x03\x86K\x03K\x01\x86\x89");
    p.extend(global("collections", "OrderedDict"));
    p.extend_from_slice(b")RtR.");
    let u = unpickle(&p, SD).unwrap();
    let Some(Obj::Tensor(t)) = u.obj(&u.root) else {
        panic!("{:?}", u.root)
    };
    assert_eq!(t.storage.dtype, DType::F32);
    assert_eq!(t.storage.key, "0");
    assert_eq!(t.shape, vec![2, 3]);
    assert_eq!(t.stride, vec![3, 1]);
}

#[test]
fn decodes_longs() {
    assert_eq!(long_value(&[]), Value::Int(0));
    assert_eq!(long_value(&[0xff]), Value::Int(-1));
    assert_eq!(long_value(&[0x00, 0x01]), Value::Int(256));
    assert_eq!(long_value(&[0; 10]), Value::BigInt);
}

#[test]
fn every_crafted_malicious_pickle_is_a_finding_naming_its_global() {
    for (global, opcode, p) in mlprov_testkit::hostile::malicious_pickles() {
        let e = unpickle(&p, SD).unwrap_err();
        assert_eq!(
            e.finding,
            Some(Finding {
                global: global.clone(),
                opcode
            }),
            "{global} {opcode}: {e}"
        );
        // Also as a bare pickle file and inside a torch.save zip.
        let bare = crate::readers::archive::read_pickle(&p, std::path::Path::new(""));
        assert!(
            matches!(&bare, Err(crate::error::ErrorKind::CodeExecution { global: g, opcode: o }) if *g == global && *o == opcode),
            "bare {global}: {bare:?}"
        );
        let zip = mlprov_testkit::hostile::torch_zip(&p, &[]);
        let z = crate::readers::archive::read_zip(&zip, std::path::Path::new(""));
        assert!(
            matches!(&z, Err(crate::error::ErrorKind::CodeExecution { global: g, opcode: o }) if *g == global && *o == opcode),
            "zip {global}: {z:?}"
        );
    }
}

#[test]
fn a_legacy_torch_save_that_runs_code_is_a_finding_and_a_clean_one_is_refused_with_advice() {
    // magic number, protocol version, sys info, then the object: os.system('id').
    let mut p = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.".to_vec();
    p.extend_from_slice(b"\x80\x02M\xe9\x03.");
    p.extend_from_slice(b"\x80\x02}q\x00.");
    let clean = p.clone();
    p.extend_from_slice(b"\x80\x02cbuiltins\nexec\nX\x01\x00\x00\x001\x85R.");
    let e = crate::readers::archive::read_pickle(&p, std::path::Path::new("")).unwrap_err();
    assert!(
        matches!(&e, crate::error::ErrorKind::CodeExecution { global, .. } if global == "builtins.exec"),
        "{e}"
    );
    let e = crate::readers::archive::read_pickle(&clean, std::path::Path::new("")).unwrap_err();
    assert!(e.to_string().contains("legacy non-zip"), "{e}");
}

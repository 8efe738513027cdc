//! Writes a seed corpus for the fuzz targets: valid request and response frames for every API
//! and version, and record batches in every codec with keys, values, headers, producer ids and
//! control markers. Run from `fuzz/` before fuzzing (see README.md):
//!
//! ```sh
//! cargo run --example seed_corpus
//! ```

use std::fs;
use std::path::Path;

use bytes::BytesMut;
use kafka_protocol::messages::visit_all;
use kafka_protocol::records::{Compression, EndTransactionMarker, RecordBatchBuilder};
use kafka_protocol::testing::{MessageVisitor, Random, TestRng};
use kafka_protocol::{ApiKey, Encodable, Message, RequestHeader, ResponseHeader};

type EncodeFn = fn(&mut TestRng, i16) -> Vec<u8>;

struct Collect(Vec<(&'static str, EncodeFn)>);

fn encode_random<M: Message + Random>(rng: &mut TestRng, version: i16) -> Vec<u8> {
    let mut buf = BytesMut::new();
    M::random(rng, version)
        .encode(&mut buf, version)
        .expect("a random value encodes");
    buf.to_vec()
}

impl MessageVisitor for Collect {
    fn visit<M: Message + Random + std::fmt::Debug + PartialEq + Clone>(&mut self) {
        self.0.push((M::NAME, encode_random::<M>));
    }
}

fn write(dir: &Path, name: String, bytes: &[u8]) {
    fs::write(dir.join(name), bytes).expect("writing a corpus file");
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let mut codecs = Collect(Vec::new());
    visit_all(&mut codecs);
    let find = |name: String| {
        codecs
            .0
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, f)| *f)
            .unwrap_or_else(|| panic!("no codec {name}"))
    };

    let requests = root.join("request");
    let responses = root.join("response");
    fs::create_dir_all(&requests).expect("corpus/request");
    fs::create_dir_all(&responses).expect("corpus/response");
    let mut n = 0;
    for api in ApiKey::ALL {
        let request = find(format!("{}Request", api.name()));
        let response = find(format!("{}Response", api.name()));
        let valid = api.valid_versions();
        for version in valid.min..=valid.max {
            for seed in 0..2u64 {
                let mut rng = TestRng::new(seed * 1000 + api.id() as u64 * 37 + version as u64);
                let hv = api.request_header_version(version);
                let header = RequestHeader::random(&mut rng, hv)
                    .with_request_api_key(api.id())
                    .with_request_api_version(version);
                let mut frame = BytesMut::new();
                header.encode(&mut frame, hv).expect("header");
                let mut frame = frame.to_vec();
                frame.extend(request(&mut rng, version));
                write(
                    &requests,
                    format!("{}-v{version}-{seed}", api.name()),
                    &frame,
                );

                let hv = api.response_header_version(version);
                let mut frame = BytesMut::new();
                frame.extend_from_slice(&api.id().to_be_bytes());
                frame.extend_from_slice(&version.to_be_bytes());
                ResponseHeader::random(&mut rng, hv)
                    .encode(&mut frame, hv)
                    .expect("header");
                let mut frame = frame.to_vec();
                frame.extend(response(&mut rng, version));
                write(
                    &responses,
                    format!("{}-v{version}-{seed}", api.name()),
                    &frame,
                );
                n += 2;
            }
        }
    }

    let batches = root.join("record_batch");
    fs::create_dir_all(&batches).expect("corpus/record_batch");
    let codecs = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];
    for (i, codec) in codecs.into_iter().enumerate() {
        for records in [0usize, 1, 5] {
            let mut b = RecordBatchBuilder::new()
                .with_compression(codec)
                .with_base_offset(100 * i as i64)
                .with_partition_leader_epoch(3);
            if records == 5 {
                b = b.with_producer(4242, 7, 10).with_transactional(true);
            }
            for r in 0..records {
                let key = format!("key-{r}");
                let value = vec![b'v'; r * 7];
                let headers: &[(&str, Option<&[u8]>)] = if r % 2 == 0 {
                    &[("trace", Some(b"abc")), ("null", None)]
                } else {
                    &[]
                };
                b.append_with_headers(
                    1_700_000_000_000 + r as i64,
                    (r % 3 != 0).then_some(key.as_bytes()),
                    Some(&value),
                    headers,
                )
                .expect("append");
            }
            if records == 0 {
                continue; // the builder may refuse an empty batch; none are needed
            }
            let batch = b.build().expect("build");
            for options in [0u8, 1, 3] {
                let mut input = vec![options];
                input.extend_from_slice(&batch);
                write(
                    &batches,
                    format!("{}-{records}-{options}", codec.name()),
                    &input,
                );
            }
            // Two batches back to back, and a partial second one.
            let mut two = vec![1u8];
            two.extend_from_slice(&batch);
            two.extend_from_slice(&batch);
            write(&batches, format!("{}-{records}-two", codec.name()), &two);
            let mut partial = vec![3u8];
            partial.extend_from_slice(&batch);
            partial.extend_from_slice(&batch[..batch.len() / 2]);
            write(
                &batches,
                format!("{}-{records}-partial", codec.name()),
                &partial,
            );
            n += 5;
        }
    }
    for committed in [false, true] {
        let marker = if committed {
            EndTransactionMarker::commit(5)
        } else {
            EndTransactionMarker::abort(5)
        };
        let batch = marker
            .build_batch(77, 1_700_000_000_000, 2, 4242, 7)
            .expect("marker batch");
        let mut input = vec![1u8];
        input.extend_from_slice(&batch);
        write(&batches, format!("marker-{committed}"), &input);
        n += 1;
    }
    println!("wrote {n} seed inputs under {}", root.display());
}

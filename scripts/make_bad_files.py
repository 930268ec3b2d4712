#!/usr/bin/env python3
"""Write the corrupted-file fixtures under tests/fixtures/bad/ (standard library only).

Each file or folder is a small valid model file damaged in one way: truncations, bad magic,
huge counts, overflowing dims, misaligned or out-of-range offsets, overlapping tensors, bad
JSON, wrong dtype strings, lying data_offsets, ... `bitnet info` must refuse each with a
non-zero exit and a one-line error, never a crash, hang or huge allocation
(tests/cli/bad_files.sh). The name of each says what is wrong.

usage: make_bad_files.py OUT_DIR
"""
import json
import os
import shutil
import struct
import sys

U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 = range(13)


def gstr(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b


def kv(key, vtype, payload):
    return gstr(key) + struct.pack("<I", vtype) + payload


def tinfo(name, dims, ggml_type, offset):
    return gstr(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims) + \
        struct.pack("<IQ", ggml_type, offset)


def gguf(kvs, infos, data, version=3, magic=b"GGUF", n_tensors=None, n_kv=None, align=32):
    head = magic + struct.pack("<I", version)
    head += struct.pack("<QQ", len(infos) if n_tensors is None else n_tensors,
                        len(kvs) if n_kv is None else n_kv)
    body = head + b"".join(kvs) + b"".join(infos)
    body += b"\0" * (-len(body) % align)
    return body + data


ARCH = kv("general.architecture", STR, gstr("bitnet"))
GOOD_KVS = [ARCH, kv("bitnet.block_count", U32, struct.pack("<I", 1)),
            kv("tokenizer.ggml.model", STR, gstr("gpt2")),
            kv("tokenizer.ggml.tokens", ARR, struct.pack("<IQ", STR, 2) + gstr("a") + gstr("b"))]
# two f32 tensors of 4x2, 32 bytes each, at offsets 0 and 32
GOOD_INFOS = [tinfo("a.weight", [4, 2], 0, 0), tinfo("b.weight", [4, 2], 0, 32)]
GOOD_DATA = bytes(range(64))


def good_gguf():
    return gguf(GOOD_KVS, GOOD_INFOS, GOOD_DATA)


def gguf_cases():
    g = good_gguf()
    header_end = len(g) - len(GOOD_DATA)
    cases = {}
    for cut in (0, 3, 4, 7, 12, 20, 24, 40, 60, 100, header_end - 30, header_end - 1, header_end + 10, len(g) - 1):
        cases[f"gguf_truncated_at_{cut}.gguf"] = g[:cut]
    cases["gguf_bad_magic.gguf"] = b"GGUX" + g[4:]
    cases["gguf_version_1.gguf"] = gguf(GOOD_KVS, GOOD_INFOS, GOOD_DATA, version=1)
    cases["gguf_version_99.gguf"] = gguf(GOOD_KVS, GOOD_INFOS, GOOD_DATA, version=99)
    cases["gguf_huge_tensor_count.gguf"] = gguf(GOOD_KVS, GOOD_INFOS, GOOD_DATA, n_tensors=1 << 60)
    cases["gguf_huge_kv_count.gguf"] = gguf(GOOD_KVS, GOOD_INFOS, GOOD_DATA, n_kv=(1 << 64) - 1)
    cases["gguf_huge_string_length.gguf"] = gguf([ARCH, struct.pack("<Q", 1 << 62) + b"key"], GOOD_INFOS, GOOD_DATA)
    cases["gguf_huge_array_count.gguf"] = gguf([ARCH, kv("x", ARR, struct.pack("<IQ", U64, 1 << 61))], GOOD_INFOS, GOOD_DATA)
    cases["gguf_bad_value_type.gguf"] = gguf([ARCH, kv("x", 13, b"\0" * 8)], GOOD_INFOS, GOOD_DATA)
    cases["gguf_bool_is_2.gguf"] = gguf([ARCH, kv("x", BOOL, b"\x02")], GOOD_INFOS, GOOD_DATA)
    nested = struct.pack("<IQ", ARR, 1) * 40 + struct.pack("<IQ", U8, 1) + b"\x01"
    cases["gguf_nesting_too_deep.gguf"] = gguf([ARCH, kv("x", ARR, nested)], GOOD_INFOS, GOOD_DATA)
    cases["gguf_duplicate_key.gguf"] = gguf(GOOD_KVS + [ARCH], GOOD_INFOS, GOOD_DATA)
    cases["gguf_n_dims_0.gguf"] = gguf(GOOD_KVS, [tinfo("a.weight", [], 0, 0)], GOOD_DATA)
    cases["gguf_n_dims_5.gguf"] = gguf(GOOD_KVS, [tinfo("a.weight", [1, 1, 1, 1, 1], 0, 0)], GOOD_DATA)
    cases["gguf_dim_zero.gguf"] = gguf(GOOD_KVS, [tinfo("a.weight", [4, 0], 0, 0)], GOOD_DATA)
    cases["gguf_dims_overflow.gguf"] = gguf(GOOD_KVS, [tinfo("a.weight", [1 << 40, 1 << 40], 0, 0)], GOOD_DATA)
    cases["gguf_unknown_type_200.gguf"] = gguf(GOOD_KVS, [tinfo("a.weight", [4, 2], 200, 0)], GOOD_DATA)
    cases["gguf_type_39_mxfp4.gguf"] = gguf(GOOD_KVS, [tinfo("a.weight", [32, 2], 39, 0)], GOOD_DATA)
    cases["gguf_block_size_mismatch.gguf"] = gguf(GOOD_KVS, [tinfo("a.weight", [100, 2], 35, 0)], GOOD_DATA)
    cases["gguf_misaligned_offset.gguf"] = gguf(GOOD_KVS, [tinfo("a.weight", [4, 2], 0, 4)], GOOD_DATA)
    cases["gguf_offset_out_of_range.gguf"] = gguf(GOOD_KVS, [tinfo("a.weight", [4, 2], 0, 1 << 40)], GOOD_DATA)
    cases["gguf_tensor_past_end.gguf"] = gguf(GOOD_KVS, [tinfo("a.weight", [4, 4], 0, 32)], GOOD_DATA)
    cases["gguf_overlapping_tensors.gguf"] = gguf(GOOD_KVS, [tinfo("a.weight", [4, 4], 0, 0),
                                                              tinfo("b.weight", [4, 2], 0, 32)], GOOD_DATA)
    cases["gguf_duplicate_tensor_name.gguf"] = gguf(GOOD_KVS, [tinfo("a.weight", [4, 2], 0, 0),
                                                               tinfo("a.weight", [4, 2], 0, 32)], GOOD_DATA)
    cases["gguf_tensor_name_too_long.gguf"] = gguf(GOOD_KVS, [tinfo("x" * 100, [4, 2], 0, 0)], GOOD_DATA)
    cases["gguf_alignment_not_power_of_2.gguf"] = gguf(
        GOOD_KVS + [kv("general.alignment", U32, struct.pack("<I", 48))], GOOD_INFOS, GOOD_DATA)
    cases["gguf_alignment_wrong_type.gguf"] = gguf(
        GOOD_KVS + [kv("general.alignment", STR, gstr("32"))], GOOD_INFOS, GOOD_DATA)
    cases["gguf_tokens_not_strings.gguf"] = gguf(
        [ARCH, kv("tokenizer.ggml.model", STR, gstr("gpt2")),
         kv("tokenizer.ggml.tokens", ARR, struct.pack("<IQ", U32, 2) + b"\0" * 8)], GOOD_INFOS, GOOD_DATA)
    cases["gguf_block_count_is_string.gguf"] = gguf(
        [ARCH, kv("bitnet.block_count", STR, gstr("30"))], GOOD_INFOS, GOOD_DATA)
    return cases


def safetensors(header, data=b"", pad=True):
    text = json.dumps(header, separators=(",", ":")).encode() if not isinstance(header, bytes) else header
    if pad:
        text += b" " * (-(8 + len(text)) % 8)
    return struct.pack("<Q", len(text)) + text + data


def st_cases():
    t = {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}
    cases = {
        "st_too_short.safetensors": b"\x10\x00\x00\x00",
        "st_header_len_zero.safetensors": struct.pack("<Q", 0),
        "st_header_len_huge.safetensors": struct.pack("<Q", 1 << 62) + b"{}",
        "st_header_past_end.safetensors": struct.pack("<Q", 4096) + b'{"a":1}',
        "st_bad_json.safetensors": safetensors(b'{"a": {"dtype": "F32", "shape": [2,', b"\0" * 16),
        "st_top_level_array.safetensors": safetensors([1, 2, 3]),
        "st_unknown_dtype.safetensors": safetensors({"a": dict(t, dtype="F9")}, b"\0" * 16),
        "st_lying_data_offsets.safetensors": safetensors({"a": dict(t, data_offsets=[0, 12])}, b"\0" * 16),
        "st_offsets_past_buffer.safetensors": safetensors({"a": dict(t, data_offsets=[16, 32])}, b"\0" * 16),
        "st_begin_after_end.safetensors": safetensors({"a": dict(t, data_offsets=[16, 0])}, b"\0" * 16),
        "st_overlapping.safetensors": safetensors({"a": t, "b": dict(t, data_offsets=[8, 24])}, b"\0" * 24),
        "st_negative_shape.safetensors": safetensors({"a": dict(t, shape=[-2, -2])}, b"\0" * 16),
        "st_float_shape.safetensors": safetensors({"a": dict(t, shape=[2.5, 2])}, b"\0" * 16),
        "st_shape_overflow.safetensors": safetensors({"a": dict(t, shape=[1 << 40, 1 << 40])}, b"\0" * 16),
        "st_missing_data_offsets.safetensors": safetensors({"a": {"dtype": "F32", "shape": [2, 2]}}, b"\0" * 16),
        "st_metadata_not_strings.safetensors": safetensors({"__metadata__": {"a": 1}, "t": t}, b"\0" * 16),
        "st_duplicate_names.safetensors": safetensors(
            b'{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}',
            b"\0" * 16),
    }
    return cases


def hf_dir(out, name, config, st_bytes=None, index=None, extra=None):
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w" if isinstance(config, str) else "w") as f:
        f.write(config if isinstance(config, str) else json.dumps(config))
    if st_bytes is not None:
        with open(os.path.join(d, "model.safetensors"), "wb") as f:
            f.write(st_bytes)
    if index is not None:
        with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
            json.dump(index, f)
    for fname, content in (extra or {}).items():
        with open(os.path.join(d, fname), "wb") as f:
            f.write(content)


def hf_cases(out):
    cfg = {"model_type": "bitnet", "architectures": ["BitNetForCausalLM"], "hidden_size": 8,
           "intermediate_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
           "num_key_value_heads": 1, "vocab_size": 4, "bos_token_id": 1, "eos_token_id": 2,
           "quantization_config": {"quant_method": "bitnet", "linear_class": "autobitlinear",
                                   "quantization_mode": "offline"}}
    good_st = safetensors({"model.norm.weight": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 8)
    hf_dir(out, "hf_config_bad_json", '{"model_type": "bitnet", "hidden_size": ', good_st)
    hf_dir(out, "hf_config_unknown_model_type", dict(cfg, model_type="gpt_neox"), good_st)
    hf_dir(out, "hf_config_hidden_size_string", dict(cfg, hidden_size="2560"), good_st)
    hf_dir(out, "hf_config_heads_do_not_divide", dict(cfg, num_attention_heads=3), good_st)
    hf_dir(out, "hf_missing_safetensors", cfg)
    hf_dir(out, "hf_index_names_missing_shard", cfg,
           index={"weight_map": {"model.norm.weight": "model-00001-of-00002.safetensors"}})
    hf_dir(out, "hf_index_shard_path_escape", cfg,
           index={"weight_map": {"model.norm.weight": "../../etc/passwd"}})
    hf_dir(out, "hf_tokenizer_bad_json", cfg, good_st, extra={"tokenizer.json": b'{"model": {"type": "BPE"'})
    hf_dir(out, "hf_weights_corrupt", cfg, safetensors({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 8]}}, b"\0" * 8))


def main():
    out = sys.argv[1]
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    for name, data in {**gguf_cases(), **st_cases()}.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    hf_cases(out)
    # the undamaged originals, which must load (so the damage is what the test detects)
    with open(os.path.join(out, "..", "good-small.gguf"), "wb") as f:
        f.write(good_gguf())
    print(f"{len(os.listdir(out))} bad files in {out}")


if __name__ == "__main__":
    main()

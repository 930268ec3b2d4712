#!/usr/bin/env bash
# train.sh - `bitnet train`, `export` and `plot` end to end, and checkpoints under SIGKILL:
#   - a run from a config of text files trains, logs one JSON line per step, evaluates and
#     writes its checkpoint; `bitnet plot` draws the log; `bitnet export` writes a GGUF file that
#     `bitnet run` generates from, and a Hugging Face folder;
#   - a run killed (SIGKILL) while its checkpoint is being written (its temporary file exists)
#     leaves the previous checkpoint valid: it opens with its CRC checked, and --resume goes on
#     from it, removing the leftover temporary file; killed three times over and resumed, the run
#     ends with the same bits (checkpoint CRC) and losses as one that never stopped;
#   - bad configs and arguments: exit 1 or 2 with a message naming the problem.
set -u
bin="$(realpath "$1")"
src="$(cd "$(dirname "$0")/../.." && pwd)"
tmp=$(mktemp -d)
trap 'kill -9 $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT
fails=0
check() { # name, expected, actual
    if [ "$2" == "$3" ]; then echo "ok   $1"; else echo "FAIL $1: want [$2] got [$3]"; fails=$((fails + 1)); fi
}
crc() { head -c 4096 "$1" | grep -a -o '"crc32":"[0-9a-f]*"'; }
losses() { sed 's/,"tokens".*//' "$1"; } # step, loss, lr, weight_decay, grad_norm of each line

cd "$tmp"
# a config of text files: the tokenizer of the tiny fixture, Persuasion's paragraphs
config() { # out steps checkpoint_every dim ffn
    cat <<EOF
{"model": {"dim": $4, "layers": 4, "heads": 4, "kv_heads": 2, "ffn": $5, "context": 32},
 "tokenizer": "$src/tests/fixtures/tiny-bitnet-hf/tokenizer.json",
 "data": {"text": ["$src/configs/text/persuasion.txt"], "val_fraction": 0.1},
 "out": "$1", "steps": $2, "batch": 4, "seed": 5, "threads": 2,
 "optim": {"lr": 5e-3, "lr_cooldown": 2e-3, "warmup": 5},
 "eval": {"every": 10, "windows": 16},
 "checkpoint": {"every": $3}}
EOF
}

# ---- a whole run, plot, export ----------------------------------------------------------------
config small 30 10 256 512 > small.json
"$bin" train small.json > train.out 2>&1
check "train exits 0" 0 $?
check "one log line per step" 30 "$(wc -l < small/log.jsonl)"
check "evaluations logged" 3 "$(grep -c val_loss small/log.jsonl)"
first=$(sed -n 's/.*"loss":\([0-9.]*\).*/\1/p' small/log.jsonl | head -1)
last=$(grep val_loss small/log.jsonl | tail -1 | sed 's/.*"val_loss":\([0-9.]*\).*/\1/')
check "validation loss below the first loss" 1 "$(awk -v a="$first" -v b="$last" 'BEGIN{print (b < a - 0.5)}')"
"$bin" plot small/log.jsonl curve.svg
check "plot exits 0" 0 $?
check "plot is an SVG with both curves" 2 "$(grep -c '<polyline' curve.svg)"
"$bin" export small model.gguf --type i2_s > /dev/null 2>&1
check "export gguf" 0 $?
out=$("$bin" run -m model.gguf -p "Anne" -n 8 --temp 0 2>/dev/null)
check "the exported model generates" 0 $?
check "it generates text" 1 "$([ -n "$out" ] && echo 1 || echo 0)"
check "BITNET_MODEL is the default model" "$out" "$(BITNET_MODEL="$tmp/model.gguf" "$bin" run -p "Anne" -n 8 --temp 0 2>/dev/null)"
BITNET_MODEL="$tmp/nowhere.gguf" "$bin" run -p "Anne" -n 8 > nowhere.out 2>&1
check "a missing BITNET_MODEL: exit 1" 1 $?
check "names it" 1 "$(grep -c 'nowhere.gguf' nowhere.out)"
"$bin" export small/checkpoint.safetensors --hf hf > /dev/null 2>&1
check "export hf" 0 $?
check "hf folder files" 5 "$(ls hf | grep -c -E '^(config.json|generation_config.json|model.safetensors|tokenizer.json|tokenizer_config.json)$')"
"$bin" train small.json > again.out 2>&1
check "a fresh run over a checkpoint exits 1" 1 $?
check "and says --resume" 1 "$(grep -c -- '--resume' again.out)"

# ---- SIGKILL while a checkpoint is written ---------------------------------------------------
# A bigger model (~50 MB checkpoints, written every step) so that each write takes a while.
config whole 24 1 256 1024 > whole.json
config killed 24 1 256 1024 > killed.json
"$bin" train whole.json > /dev/null 2>&1
check "uninterrupted run" 0 $?
kills=0
resume=""
for round in 1 2 3; do
    "$bin" train killed.json $resume > /dev/null 2>&1 &
    pid=$!
    caught=0
    for _ in $(seq 1 4000); do # poll until a checkpoint write is under way, then kill
        if compgen -G "killed/checkpoint.safetensors.tmp.*" > /dev/null && [ -f killed/checkpoint.safetensors ]; then
            kill -9 $pid 2>/dev/null && caught=1
            break
        fi
        kill -0 $pid 2>/dev/null || break
        sleep 0.005
    done
    wait $pid 2>/dev/null
    if [ $caught = 1 ]; then
        kills=$((kills + 1))
        check "round $round: a temporary file was left" 1 "$(compgen -G 'killed/checkpoint.safetensors.tmp.*' | wc -l)"
        "$bin" export killed --hf "verify$round" > verify.out 2>&1
        check "round $round: the previous checkpoint opens (CRC checked)" 0 $?
    fi
    resume="--resume killed"
done
check "killed during a checkpoint write at least twice" 1 "$([ $kills -ge 2 ] && echo 1 || echo 0)"
"$bin" train killed.json --resume killed > resume.out 2>&1
check "resume to the end" 0 $?
check "no temporary file left" 0 "$(compgen -G 'killed/checkpoint.safetensors.tmp.*' | wc -l)"
check "the final checkpoint has a CRC" 1 "$(crc killed/checkpoint.safetensors | grep -c crc32)"
check "the same final bits as the uninterrupted run" "$(crc whole/checkpoint.safetensors)" "$(crc killed/checkpoint.safetensors)"
check "the same losses" "$(losses whole/log.jsonl | md5sum)" "$(losses killed/log.jsonl | md5sum)"

# ---- bad input -------------------------------------------------------------------------------
echo '{"model": {"dim": 64}}' > bad.json
"$bin" train bad.json > bad.out 2>&1
check "config without layers: exit 1" 1 $?
check "names the field" 1 "$(grep -c 'model.layers is missing' bad.out)"
"$bin" train > /dev/null 2>&1
check "no config: exit 2" 2 $?
"$bin" train small.json --resume > /dev/null 2>&1
check "--resume without DIR: exit 2" 2 $?
"$bin" train small.json --resume nowhere > nowhere.out 2>&1
check "resume from nothing: exit 1" 1 $?
printf 'garbage' > broken.safetensors
"$bin" export broken.safetensors x.gguf > broken.out 2>&1
check "export of a broken file: exit 1" 1 $?
"$bin" plot curve.svg > /dev/null 2>&1
check "plot without output: exit 2" 2 $?
echo 'not json' > bad.jsonl
"$bin" plot bad.jsonl bad.svg > badplot.out 2>&1
check "plot of a bad log: exit 1" 1 $?
check "names the line" 1 "$(grep -c 'bad.jsonl:1' badplot.out)"

[ $fails -eq 0 ] && echo "train.sh: all passed" || echo "train.sh: $fails failed"
exit $((fails > 0))

/*
 * checkpoint.h - a training run's whole state in one safetensors file, so that a run killed at
 * any moment resumes exactly:
 *
 *   tensors   every parameter under its Hugging Face name (F32), the AdamW moments as
 *             "optim.m.NAME" and "optim.v.NAME", and the data loader's state as the U8 tensor
 *             "train.data_state" (its bytes are the loader's business)
 *   metadata  format "bitnet-c-checkpoint", version "1", step (updates done), adam_steps,
 *             tokens (seen so far), model (the net config as JSON), config (the run's config
 *             file as given), crc32 (hex, of every tensor's bytes in name order)
 *
 * The file is written to a temporary name, synced and renamed over the old one (io/outfile.h),
 * so a crash or SIGKILL mid-write leaves the previous checkpoint whole; loading recomputes the
 * CRC and refuses a file whose bytes changed.
 */
#ifndef BN_TRAIN_CHECKPOINT_H
#define BN_TRAIN_CHECKPOINT_H

#include "io/safetensors.h"
#include "train/net.h"
#include "train/optim.h"

typedef struct bn_checkpoint_info {
    int64_t step, adam_steps, tokens;
    const char *config; /* the run's config text (NULL: none) */
    const uint8_t *data_state;
    size_t data_state_size;
} bn_checkpoint_info;

/* Write net (and opt, NULL for weights only) with info to path, atomically. */
bn_status bn_checkpoint_save(const char *path, const bn_net *net, const bn_adamw *opt,
                             const bn_checkpoint_info *info);

/* An opened checkpoint: its model config, its info (pointing into the file) and the file. */
typedef struct bn_checkpoint {
    bn_safetensors *st;
    bn_net_config model;
    bn_checkpoint_info info;
    bool has_optimizer;
} bn_checkpoint;

/* Open and verify (format, version, CRC, metadata) a checkpoint: path is the file or the run's
 * folder (holding checkpoint.safetensors). Errors name the file and what is wrong. */
bn_status bn_checkpoint_open(bn_checkpoint *ck, const char *path);
void bn_checkpoint_close(bn_checkpoint *ck);

/* Copy the weights (and the moments, when opt is not NULL) into a net made from ck->model;
 * every tensor's presence, dtype and shape is checked. */
bn_status bn_checkpoint_restore(const bn_checkpoint *ck, bn_net *net, bn_adamw *opt);

/* The file a run's folder keeps its checkpoint in. */
#define BN_CHECKPOINT_FILE "checkpoint.safetensors"

#endif /* BN_TRAIN_CHECKPOINT_H */

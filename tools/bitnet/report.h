/* report.h - printing per-tensor quantization error reports (convert, quantize). */
#ifndef BN_CLI_REPORT_H
#define BN_CLI_REPORT_H

#include "model/convert.h"

#include <stdbool.h>

/* A table (text) or {"tensors": [...], "summary": {...}} (json) on stdout. */
void bn_cli_print_report(const bn_convert_report *r, bool json);

/* The end of convert/quantize: the error, or the report (or "wrote PATH"); frees the report.
 * Returns the exit code. */
int bn_cli_finish_conversion(bn_status st, bn_convert_report *r, bool report, bool json,
                             const char *out_path);

/* Progress on stderr when it is a terminal: "[ 42%] blk.3.ffn_up.weight". */
void bn_cli_progress(void *ctx, int64_t done, int64_t total, const char *name);

#endif /* BN_CLI_REPORT_H */

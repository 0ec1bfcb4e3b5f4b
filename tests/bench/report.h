/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#pragma once

/*
 * What a benchmark run found, as rows of "this measurement against that
 * baseline, measured in the same run", printed as one table and written as
 * JSON. The machine is shared and noisy, so a row's ratio is the median of
 * the ratios of each round (both sides of a round ran next to each other),
 * not the ratio of two medians.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define REPORT_ROUNDS_MAX 16

typedef enum ReportUnit {
        UNIT_RATE,      /* operations per second */
        UNIT_USEC,      /* microseconds per operation */
        UNIT_MIB,       /* mebibytes */
        UNIT_COUNT,     /* a plain count */
} ReportUnit;

typedef enum ReportRatio {
        RATIO_NONE,     /* no ratio makes sense (an error count) */
        RATIO_COST,     /* how many times the baseline's cost; lower is better */
        RATIO_SPEED,    /* how many times the baseline's speed; higher is better */
        RATIO_PLAIN,    /* value / baseline */
} ReportRatio;

typedef struct ReportRow {
        char goal[16];          /* "P1" ... "P5", "scale" */
        char what[128];
        char baseline[96];
        ReportUnit unit;
        ReportRatio ratio_kind;
        char target_op;         /* '<' (at most), '>' (at least), 0 (no target) */
        double target;
        size_t n_rounds;
        double value[REPORT_ROUNDS_MAX];
        double base[REPORT_ROUNDS_MAX];
} ReportRow;

typedef struct Report {
        ReportRow *rows;
        size_t n_rows;
        size_t n_allocated;
} Report;

double report_median(const double *v, size_t n);

/* A new row (zeroed but for the given fields); NULL on OOM. */
ReportRow *report_add(Report *r, const char *goal, ReportUnit unit, ReportRatio ratio_kind,
                      const char *what, const char *baseline);
/* One round of a row: the measurement and the baseline next to it. */
void report_round(ReportRow *row, double value, double base);
void report_target(ReportRow *row, char op, double target);

double report_row_value(const ReportRow *row);
double report_row_base(const ReportRow *row);
/* The median of the per-round ratios; NAN without a ratio. */
double report_row_ratio(const ReportRow *row);
/* 1 met, 0 not met, -1 no target. */
int report_row_met(const ReportRow *row);

/* The table, as markdown, so that it reads in a terminal and pastes into a README. */
void report_print(const Report *r, FILE *f);
/* @machine_json: a JSON object describing the machine and the run, inserted as it is. */
int report_write_json(const Report *r, const char *machine_json, const char *path);
void report_free(Report *r);

/*
 * timeline.h: `ringmaster timeline TRACE.json --svg OUT.svg`, a trace drawn as a Gantt chart.
 *
 * Reads a Chrome trace-event JSON file (object form {"traceEvents": [...]} or a bare array),
 * such as the one `ringmaster run ... --trace FILE` writes, and draws one row per rank (tid):
 * task spans coloured by stage, shuffle, checkpoint and replication spans as thin patterned
 * bars under them, other complete ("X") events in grey, failures and elections as labelled
 * vertical lines, rescheduling as small triangles, a time axis in seconds, a legend and a
 * title with the kernel and the job length. Unknown fields, events and phases are ignored.
 * Adjacent spans of one rank and stage narrower than half a pixel are drawn as one rectangle,
 * so the picture stays small for large traces.
 *
 * The SVG is written under a temporary name beside OUT.svg and renamed, so OUT.svg is either
 * the old file or the complete new one. Single-threaded; no MPI.
 */
#ifndef RM_TIMELINE_H
#define RM_TIMELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define RM_TIMELINE_DEFAULT_WIDTH 1200u

struct rm_timeline_options {
    const char *trace; /* borrowed from argv */
    const char *svg;   /* borrowed from argv */
    unsigned width;    /* pixels */
    bool help;
};

/*
 * Parses the arguments after `timeline`.
 *  argv: borrowed, argc entries; o receives pointers into it.
 *  err: receives a one-line reason on failure, errlen bytes.
 * Returns 0 (o->help may be set; then nothing else is checked) or RM_EUSAGE.
 */
int rm_timeline_parse_args(int argc, char **argv, struct rm_timeline_options *o, char *err,
                           size_t errlen);

/* Prints the usage of `ringmaster timeline` to f (borrowed). This function can't fail. */
void rm_timeline_print_help(FILE *f);

/*
 * Reads o->trace and writes the chart to o->svg (see the file comment).
 *  o: borrowed. err: receives a one-line reason on failure, errlen bytes; it names the file,
 *  and for malformed JSON the byte offset.
 * Returns 0; RM_ENOENT when the trace does not exist; RM_EINVAL when it is not JSON or not a
 * trace; RM_EIO when it cannot be read or the SVG cannot be written (the final name is then
 * untouched); RM_ENOMEM.
 */
int rm_timeline_render(const struct rm_timeline_options *o, char *err, size_t errlen);

#endif /* RM_TIMELINE_H */

/*
 * SR_EXPORT marks what libsnowrange exports. The library is compiled with
 * -fvisibility=hidden, so only the declarations in include/snowrange/ that
 * carry this mark are visible to programs that link it; every internal
 * symbol stays inside the shared library, and the static archive has them
 * localized (see docs/decisions.md, "One installable library").
 */
#ifndef SNOWRANGE_EXPORT_H
#define SNOWRANGE_EXPORT_H

#if defined(__GNUC__) || defined(__clang__)
#define SR_EXPORT __attribute__((visibility("default")))
#else
#define SR_EXPORT
#endif

#endif

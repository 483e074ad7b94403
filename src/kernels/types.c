/*
 * types.c - the table of tensor types. Sizes and names cover every id GGUF
 * files use, so `penny info` can describe any file; compute functions exist
 * only for the supported types (see types_ref.c and kquants.c).
 */
#include "kernels/types.h"

#include <stdio.h>

#include "kernels/kquants.h"
#include "kernels/types_ref.h"

static const type_traits g_types[TYPE_COUNT] = {
    [TYPE_F32] = {"F32", 1, 4, true, ref_f32_to_f32, ref_f32_from_f32, ref_f32_dot},
    [TYPE_F16] = {"F16", 1, 2, true, ref_f16_to_f32, ref_f16_from_f32, ref_f16_dot},
    [TYPE_Q4_0] = {"Q4_0", 32, 18, true, ref_q4_0_to_f32, ref_q4_0_from_f32, ref_q4_0_dot},
    [TYPE_Q4_1] = {"Q4_1", 32, 20, false, 0, 0, 0},
    [TYPE_Q5_0] = {"Q5_0", 32, 22, false, 0, 0, 0},
    [TYPE_Q5_1] = {"Q5_1", 32, 24, false, 0, 0, 0},
    [TYPE_Q8_0] = {"Q8_0", 32, 34, true, ref_q8_0_to_f32, ref_q8_0_from_f32, ref_q8_0_dot},
    [TYPE_Q8_1] = {"Q8_1", 32, 36, false, 0, 0, 0},
    [TYPE_Q2_K] = {"Q2_K", 256, 84, false, 0, 0, 0},
    [TYPE_Q3_K] = {"Q3_K", 256, 110, false, 0, 0, 0},
    [TYPE_Q4_K] = {"Q4_K", 256, 144, true, ref_q4_K_to_f32, ref_q4_K_from_f32, ref_q4_K_dot},
    [TYPE_Q5_K] = {"Q5_K", 256, 176, true, ref_q5_K_to_f32, ref_q5_K_from_f32, ref_q5_K_dot},
    [TYPE_Q6_K] = {"Q6_K", 256, 210, true, ref_q6_K_to_f32, ref_q6_K_from_f32, ref_q6_K_dot},
    [TYPE_Q8_K] = {"Q8_K", 256, 292, false, 0, 0, 0},
    [16] = {"IQ2_XXS", 256, 66, false, 0, 0, 0},
    [17] = {"IQ2_XS", 256, 74, false, 0, 0, 0},
    [18] = {"IQ3_XXS", 256, 98, false, 0, 0, 0},
    [19] = {"IQ1_S", 256, 50, false, 0, 0, 0},
    [20] = {"IQ4_NL", 32, 18, false, 0, 0, 0},
    [21] = {"IQ3_S", 256, 110, false, 0, 0, 0},
    [22] = {"IQ2_S", 256, 82, false, 0, 0, 0},
    [23] = {"IQ4_XS", 256, 136, false, 0, 0, 0},
    [24] = {"I8", 1, 1, false, 0, 0, 0},
    [25] = {"I16", 1, 2, false, 0, 0, 0},
    [26] = {"I32", 1, 4, false, 0, 0, 0},
    [27] = {"I64", 1, 8, false, 0, 0, 0},
    [28] = {"F64", 1, 8, false, 0, 0, 0},
    [29] = {"IQ1_M", 256, 56, false, 0, 0, 0},
    [TYPE_BF16] = {"BF16", 1, 2, true, ref_bf16_to_f32, ref_bf16_from_f32, ref_bf16_dot},
    [34] = {"TQ1_0", 256, 54, false, 0, 0, 0},
    [35] = {"TQ2_0", 256, 66, false, 0, 0, 0},
    [39] = {"MXFP4", 32, 17, false, 0, 0, 0},
};

const type_traits *type_get(uint32_t type) {
    if (type >= TYPE_COUNT || !g_types[type].name) return NULL;
    return &g_types[type];
}

const char *type_name(uint32_t type) {
    const type_traits *t = type_get(type);
    return t ? t->name : "unknown";
}

size_t type_row_size(uint32_t type, int64_t n) {
    const type_traits *t = type_get(type);
    if (!t || n < 0 || n % t->block_size != 0) return 0;
    return (size_t)(n / t->block_size) * t->type_size;
}

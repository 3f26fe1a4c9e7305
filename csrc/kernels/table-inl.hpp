// table-inl.hpp: fills a tier's Kernels with the entry points of loop-inl.hpp and, where the
// tier compiled them, of variants-inl.hpp. No include guard: included by each tier's .cpp
// inside its namespace but *after* its target region is popped, so this code stays at the
// baseline ISA.

template <class T>
static void fill_dtype(Kernels& t, DType dt) {
  const int i = static_cast<int>(dt);
  t.forward[i] = &forward_entry<T>;
  t.apply[i] = &apply_entry<T>;
#if defined(PYDROPOUT_VARIANTS_INL)
  t.gaussian[i] = &gaussian_entry<T>;
#endif
#if defined(PYDROPOUT_ALPHA_INL)
  t.alpha[i] = &alpha_select_entry<T>;
  t.alpha_forward[i] = &alpha_forward_entry<T>;
#endif
#if defined(PYDROPOUT_MODERN_INL)
  t.gaussian_add[i] = &gaussian_add_entry<T>;
  t.zoneout[i] = &zoneout_entry<T>;
#endif
}

static void fill_table(Kernels& t) {
  fill_dtype<Half>(t, DType::f16);
  fill_dtype<BFloat16>(t, DType::bf16);
  fill_dtype<float>(t, DType::f32);
  fill_dtype<double>(t, DType::f64);
  t.mask = &mask_entry;
#if defined(PYDROPOUT_VARIANTS_INL)
  t.normal = &normal_entry;
#endif
}

#undef PYDROPOUT_VARIANTS_INL
#undef PYDROPOUT_ALPHA_INL
#undef PYDROPOUT_MODERN_INL

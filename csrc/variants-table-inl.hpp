// variants-table-inl.hpp: fills a VariantTable with the entry points of variants-inl.hpp.
// No include guard: included by variants.cpp inside each level's namespace but *after*
// its target region is popped, so this code stays at the baseline ISA.

static void fill_variant_table(VariantTable& t) {
  t.alpha[static_cast<int>(DType::f16)] = &alpha_entry<Half>;
  t.alpha[static_cast<int>(DType::bf16)] = &alpha_entry<BFloat16>;
  t.alpha[static_cast<int>(DType::f32)] = &alpha_entry<float>;
  t.alpha[static_cast<int>(DType::f64)] = &alpha_entry<double>;
  t.gaussian[static_cast<int>(DType::f16)] = &gaussian_entry<Half>;
  t.gaussian[static_cast<int>(DType::bf16)] = &gaussian_entry<BFloat16>;
  t.gaussian[static_cast<int>(DType::f32)] = &gaussian_entry<float>;
  t.gaussian[static_cast<int>(DType::f64)] = &gaussian_entry<double>;
  t.normal = &normal_entry;
}

// register_generator.cpp: the Generator class and the default generator: argument checks
// of seeds, streams and offsets, the state API, reservation of words, pickling.
#include <pybind11/pybind11.h>

#include <random>
#include <string>
#include <tuple>

#include "generator.hpp"
#include "register.hpp"

namespace pydropout {

namespace {

std::string type_name(py::handle h) { return py::str(py::type::handle_of(h).attr("__name__")); }

// An integer in [0, 2**64): TypeError if not an integer, ValueError if out of range.
uint64_t u64_arg(py::handle h, const char* name) {
  if (PyFloat_Check(h.ptr()) || PyBool_Check(h.ptr()) || !PyIndex_Check(h.ptr()))
    throw py::type_error(std::string(name) + " must be an integer, got " + type_name(h));
  py::object idx = py::reinterpret_steal<py::object>(PyNumber_Index(h.ptr()));
  if (!idx) throw py::error_already_set();
  const int negative = PyObject_RichCompareBool(idx.ptr(), py::int_(0).ptr(), Py_LT);
  unsigned long long v = 0;
  if (negative == 0) {
    v = PyLong_AsUnsignedLongLong(idx.ptr());
    if (v == static_cast<unsigned long long>(-1) && PyErr_Occurred()) {
      PyErr_Clear();
      throw py::value_error(std::string(name) + " must be in [0, 2**64), got " +
                            std::string(py::str(idx)));
    }
    return v;
  }
  if (negative < 0) throw py::error_already_set();
  throw py::value_error(std::string(name) + " must be in [0, 2**64), got " +
                        std::string(py::str(idx)));
}

// Why Generator(*args, **kwargs) does not fit Generator(seed=None, *, stream=0, offset=0).
std::string constructor_mistake(const py::args& args, const py::kwargs& kwargs) {
  const std::string usage = "Generator(seed=None, *, stream=0, offset=0)";
  if (args.size() > 1)
    return "Generator() takes seed as its only positional argument (" +
           std::to_string(args.size()) + " given); pass stream= and offset= by keyword: " + usage;
  for (auto item : kwargs) {
    const std::string key = py::str(item.first);
    if (key == "seed" && args.size() == 1)
      return "Generator() got seed both by position and by keyword: " + usage;
    if (key != "seed" && key != "stream" && key != "offset")
      return "Generator() got an unexpected keyword argument '" + key + "': " + usage;
  }
  return "Generator() arguments do not match " + usage;
}

uint64_t entropy_seed() {
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ static_cast<uint64_t>(rd());
}

}  // namespace

py::int_ to_pyint(u128 v) {
  if (v <= ~uint64_t{0}) return py::int_(static_cast<uint64_t>(v));
  return py::reinterpret_steal<py::int_>(PyNumber_Lshift(py::int_(1).ptr(), py::int_(64).ptr()));
}

namespace {

// A state's offset: [0, 2**64], the end included (a generator that drew its last word).
u128 state_offset_arg(py::handle h) {
  if (!(PyFloat_Check(h.ptr()) || PyBool_Check(h.ptr())) && PyIndex_Check(h.ptr())) {
    py::object idx = py::reinterpret_steal<py::object>(PyNumber_Index(h.ptr()));
    if (!idx) throw py::error_already_set();
    if (idx.equal(py::reinterpret_steal<py::object>(
            PyNumber_Lshift(py::int_(1).ptr(), py::int_(64).ptr()))))
      return u128(1) << 64;
  }
  return u64_arg(h, "offset");
}

// Part I of the state (seed, stream, offset), and the setter of the field that holds it: an
// integer in [0, 2**64), set under the generator's lock.
template <int I>
py::int_ state_part(const Generator& g) {
  return to_pyint(std::get<I>(g.state()));
}

template <class Field>
auto part_setter(Field Generator::* field, const char* name) {
  return [field, name](Generator& g, py::object v) {
    const uint64_t u = u64_arg(v, name);
    std::lock_guard<std::mutex> l(g.lock);
    g.*field = u;
  };
}

}  // namespace

Generator& default_generator() {
  static Generator* g = [] {
    auto* gen = new Generator();
    gen->seed = entropy_seed();
    return gen;
  }();
  return *g;
}

void register_generator(py::module_& m) {
  // module-local: two builds of the core can be loaded side by side (benchmarks/ab_builds.py)
  py::class_<Generator>(m, "Generator", py::module_local())
      .def(py::init([](py::object seed, py::object stream, py::object offset) {
             auto* g = new Generator();
             g->seed = seed.is_none() ? entropy_seed() : u64_arg(seed, "seed");
             g->stream = u64_arg(stream, "stream");
             g->offset = u64_arg(offset, "offset");
             return g;
           }),
           py::arg("seed") = py::none(), py::kw_only(), py::arg("stream") = 0,
           py::arg("offset") = 0)
      // every call the signature above refuses: a readable TypeError instead of pybind11's
      // list of overloads
      .def(py::init([](const py::args& args, const py::kwargs& kwargs) -> Generator* {
        throw py::type_error(constructor_mistake(args, kwargs));
      }))
      .def_property("seed", &state_part<0>, part_setter(&Generator::seed, "seed"))
      .def_property("stream", &state_part<1>, part_setter(&Generator::stream, "stream"))
      .def_property("offset", &state_part<2>, part_setter(&Generator::offset, "offset"))
      .def("get_state",
           [](const Generator& g) {
             const auto s = g.state();
             return py::make_tuple(std::get<0>(s), std::get<1>(s), to_pyint(std::get<2>(s)));
           })
      .def(
          "set_state",
          [](Generator& g, py::object state) {
            if (py::isinstance<py::dict>(state)) {
              py::dict d = state;
              for (const char* key : {"seed", "stream", "offset"}) {
                if (!d.contains(key))
                  throw py::value_error(
                      std::string("state must have the keys seed, stream and offset; ") + key +
                      " is missing");
              }
              const uint64_t seed = u64_arg(d["seed"], "seed");
              const uint64_t stream = u64_arg(d["stream"], "stream");
              g.set(seed, stream, state_offset_arg(d["offset"]));
              return;
            }
            if (!PySequence_Check(state.ptr()))
              throw py::type_error("state must be a (seed, stream, offset) tuple, got " +
                                   type_name(state));
            py::sequence s = py::reinterpret_borrow<py::sequence>(state);
            if (py::isinstance<py::str>(state) || py::isinstance<py::bytes>(state) ||
                py::len(s) != 3)
              throw py::value_error("state must be a (seed, stream, offset) tuple of 3 integers");
            const uint64_t seed = u64_arg(s[0], "seed");
            const uint64_t stream = u64_arg(s[1], "stream");
            g.set(seed, stream, state_offset_arg(s[2]));
          },
          py::arg("state"))
      .def(
          "manual_seed",
          [](Generator& g, py::object seed) -> Generator& {
            const uint64_t s = u64_arg(seed, "seed");
            std::lock_guard<std::mutex> l(g.lock);
            g.seed = s;
            g.offset = 0;
            return g;
          },
          py::arg("seed"), py::return_value_policy::reference)
      .def(
          "_reserve",
          [](Generator& g, py::object n) {
            const auto s = g.reserve(u64_arg(n, "n"));
            return py::make_tuple(std::get<0>(s), std::get<1>(s), std::get<2>(s));
          },
          py::arg("n"))
      .def("__repr__",
           [](const Generator& g) {
             const auto s = g.state();
             return "Generator(seed=" + std::to_string(std::get<0>(s)) +
                    ", stream=" + std::to_string(std::get<1>(s)) +
                    ", offset=" + std::string(py::str(to_pyint(std::get<2>(s)))) + ")";
           })
      .def(py::pickle(
          [](const Generator& g) {
            const auto s = g.state();
            return py::make_tuple(std::get<0>(s), std::get<1>(s), to_pyint(std::get<2>(s)));
          },
          [](py::tuple t) {
            auto* g = new Generator();
            g->set(u64_arg(t[0], "seed"), u64_arg(t[1], "stream"), state_offset_arg(t[2]));
            return g;
          }));

  m.attr("default_generator") = py::cast(&default_generator(), py::return_value_policy::reference);
}

}  // namespace pydropout

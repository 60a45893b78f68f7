# gpuleak's holders walker, part 3 of 3 (after walker_kinds.py and walker_names.py, in one
# namespace): the walk itself, breadth first from the roots, and its entries `_walk` (a walk
# now) and `_setup` (the walk at exit). See walker_kinds.py for what it must never do.


class _Walk(_Names):
    def __init__(self, reason, deadline_us, max_objects, locals_ok):
        self.reason = reason
        self.deadline = deadline_us
        self.max_objects = max_objects
        self.locals_ok = locals_ok
        self.skipped_locals = False
        torch = sys.modules.get("torch")
        self.Tensor = getattr(torch, "Tensor", None) if torch is not None else None
        nn = sys.modules.get("torch.nn.modules.module")
        self.Module = getattr(nn, "Module", None) if nn is not None else None
        par = sys.modules.get("torch.nn.parameter")
        self.Parameter = getattr(par, "Parameter", None) if par is not None else None
        opt = sys.modules.get("torch.optim.optimizer")
        self.Optimizer = getattr(opt, "Optimizer", None) if opt is not None else None
        self.handlers = {}
        self.dicts = {}
        self.slotted = {}
        self.keys = []
        self.saved_names = {}
        self.objs = []
        self.par = []
        self.kind = []
        self.key = []
        self.root = []
        self.roots = []
        self.seen = set()
        self.storages = {}
        self.holders = []

    def close(self):
        for c in (self.handlers, self.dicts, self.slotted, self.saved_names, self.objs, self.par,
                  self.kind, self.key, self.root, self.roots, self.seen, self.storages,
                  self.holders, self.keys):
            c.clear()

    # --- what each type is -------------------------------------------------------------------

    def handler(self, t):
        h = self.handlers.get(t)
        if h is None:
            h = self.handlers[t] = self.classify(t)
        return h

    def classify(self, t):
        mro = type.__dict__["__mro__"].__get__(t)
        dicts = [type.__dict__["__dict__"].__get__(k) for k in mro]
        if t in _ATOMIC:
            return H_SKIP
        if self.Tensor is not None and self.Tensor in mro:
            return H_TENSOR
        if any("__cuda_array_interface__" in d for d in dicts):
            return H_CAI
        if t is _T["module"]:
            return H_PYMOD
        if type in mro:
            return H_TYPE
        if self.Module is not None and self.Module in mro:
            return H_NNMOD
        if self.Optimizer is not None and self.Optimizer in mro:
            return H_OPTIM
        if dict in mro:
            return H_DICT
        if list in mro or tuple in mro:
            return H_SEQ
        if set in mro or frozenset in mro:
            return H_SET
        if t is _T["function"]:
            return H_FUNC
        if t is _T["method"]:
            return H_METHOD
        if t is _T["cell"]:
            return H_CELL
        if t in _GENS:
            return H_GEN
        if t is _T["frame"]:
            return H_FRAME
        if t is _T["traceback"]:
            return H_TB
        if any("next_functions" in d for d in dicts):
            self.saved_names[t] = [n for d in dicts for n in d if n.startswith("_saved_")]
            return H_AUTOGRAD
        if any("__dict__" in d or "__slots__" in d for d in dicts[:-1]):
            return H_OBJ
        return H_REFS

    # --- the graph ---------------------------------------------------------------------------

    def add(self, o, parent, kind, key, root):
        t = type(o)
        if t in _ATOMIC:
            return
        i = id(o)
        if i in self.seen:
            return
        h = self.handlers.get(t)
        if h is None:
            h = self.handler(t)
        if h != H_TENSOR and h != H_CAI:
            if not gc.is_tracked(o):
                return
        self.seen.add(i)
        self.objs.append(o)
        self.par.append(parent)
        self.kind.append(kind)
        self.key.append(key)
        self.root.append(root)
        if h == H_TENSOR or h == H_CAI:
            # Named when found, not when expanded: a walk stopped by a cap still names the
            # owners at its frontier.
            self.own(o, h, len(self.objs) - 1)

    def own(self, o, h, n):
        try:
            if h == H_TENSOR:
                self.tensor_owner(o, n)
            else:
                self.array(o, type(o), n)
        except Exception:
            pass

    def mro_dicts(self, t):
        d = self.dicts.get(t)
        if d is None:
            d = self.dicts[t] = [type.__dict__["__dict__"].__get__(k)
                                 for k in type.__dict__["__mro__"].__get__(t)]
        return d

    def has_slots(self, t):
        v = self.slotted.get(t)
        if v is None:
            v = self.slotted[t] = any("__slots__" in d for d in self.mro_dicts(t)[:-1])
        return v

    def is_attr_dict(self, o, t, d):
        """Whether `d`, a referent of `o`, is its attribute dict (not a dict-valued attribute)."""
        dicts = self.mro_dicts(t)
        for k in list(d)[:3]:
            if type(k) is not str:
                return False
            if any(k in c for c in dicts):
                continue
            try:
                if object.__getattribute__(o, k) is not d[k]:
                    return False
            except Exception:
                return False
        return True

    def attrs(self, o, t, n, r, skip=(), unnamed=True):
        """An object's attributes, through what it refers to: asking for its `__dict__` would
        give an instance that keeps its attributes inline (3.11+) a dict it did not have. An
        attribute met so is named when a path goes through it (`attr_name`)."""
        skip = set(id(x) for x in skip)
        vals = [v for v in gc.get_referents(o) if v is not t and not (skip and id(v) in skip)]
        # An attribute dict comes last (after slot values), and alone but for those: values
        # kept inline come one by one instead. Only then is it worth asking.
        last = vals[-1] if vals else None
        if type(last) is not dict or not (len(vals) == 1 or self.has_slots(t)) \
                or not self.is_attr_dict(o, t, last):
            last = None
        for v in vals:
            if v is last:
                for k, x in list(v.items()):
                    self.add(x, n, E_ATTR, k, r)
            elif unnamed:
                self.add(v, n, E_ATTR, None, r)
        if unnamed and type.__dict__["__flags__"].__get__(t) & (1 << 9):
            self.add(t, n, E_ATTR, "__class__", r)

    def frame_locals(self, f, n, r, kind):
        if self.locals_ok:
            for name, v in list(f.f_locals.items()):
                self.add(v, n, kind, name, r)
        else:
            self.skipped_locals = True

    def expand(self, n):
        o = self.objs[n]
        t = type(o)
        h = self.handler(t)
        r = self.root[n]
        add = self.add
        if h == H_DICT:
            items = list(dict.items(o))
            # Most values of a large heap are numbers and strings: not even a call for them.
            for k, v in items:
                if type(v) not in _ATOMIC:
                    add(v, n, E_KEY, k, r)
            for i, (k, _) in enumerate(items):
                if type(k) in _ATOMIC:
                    continue
                if gc.is_tracked(k) or self.handler(type(k)) == H_TENSOR:
                    self.keys.append((k, n, i, r))
            if t is not dict:
                self.attrs(o, t, n, r, skip=[v for _, v in items] + [k for k, _ in items])
        elif h == H_SEQ:
            for i, v in enumerate(list(o)):
                if type(v) not in _ATOMIC:
                    add(v, n, E_INDEX, i, r)
        elif h == H_SET:
            for v in list(o):
                add(v, n, E_REF, "{}", r)
        elif h == H_TENSOR:
            self.tensor(o, n, r)
        elif h == H_CAI:
            self.attrs(o, t, n, r)
        elif h == H_PYMOD or h == H_TYPE:
            for k, v in list(type.__dict__["__dict__"].__get__(o).items() if h == H_TYPE
                             else _T["module"].__dict__["__dict__"].__get__(o).items()):
                add(v, n, E_ATTR, k, r)
        elif h == H_FUNC:
            names = o.__code__.co_freevars
            for name, c in zip(names, o.__closure__ or ()):
                try:
                    add(c.cell_contents, n, E_CLOSURE, name, r)
                except ValueError:
                    pass
            for i, v in enumerate(o.__defaults__ or ()):
                add(v, n, E_ATTR, "__defaults__[%d]" % i, r)
            for k, v in list((o.__kwdefaults__ or {}).items()):
                add(v, n, E_ATTR, "__kwdefaults__[%r]" % k, r)
            # A function's own attributes (`__wrapped__` ...) are not followed: telling its
            # `__dict__` from its annotations among its referents costs more than they give.
        elif h == H_METHOD:
            add(o.__self__, n, E_ATTR, "__self__", r)
            add(o.__func__, n, E_ATTR, "__func__", r)
        elif h == H_CELL:
            try:
                add(o.cell_contents, n, E_ATTR, "cell_contents", r)
            except ValueError:
                pass
        elif h == H_GEN:
            self.gen_locals(o, n, r, E_LOCAL)
        elif h == H_FRAME:
            self.frame_locals(o, n, r, E_LOCAL)
        elif h == H_TB:
            add(o.tb_frame, n, E_ATTR, "tb_frame", r)
            if o.tb_next is not None:
                add(o.tb_next, n, E_ATTR, "tb_next", r)
        elif h == H_NNMOD:
            self.module(o, t, n, r)
        elif h == H_OPTIM:
            state = object.__getattribute__(o, "state")
            add(state, n, E_OPT_STATE, "state", r)
            self.attrs(o, t, n, r, skip=(state,))
        elif h == H_AUTOGRAD:
            for i, pair in enumerate(o.next_functions):
                if pair[0] is not None:
                    add(pair[0], n, E_ATTR, "next_functions[%d][0]" % i, r)
            for name in self.saved_names.get(t, ()):
                try:
                    v = getattr(o, name)
                except Exception:
                    continue
                add(v, n, E_ATTR, name, r)
            v = getattr(o, "variable", None)
            if v is not None:
                add(v, n, E_ATTR, "variable", r)
        elif h == H_OBJ:
            self.attrs(o, t, n, r)
        elif h == H_REFS:
            for v in gc.get_referents(o):
                add(v, n, E_REF, "<ref>", r)

    def gen_locals(self, g, n, r, kind):
        """A suspended generator's locals, through what it refers to: asking for its frame or
        that frame's f_locals would make objects that outlive the walk. A local is named when a
        path goes through it (`local_name`)."""
        if sys.version_info < (3, 11):
            # There a generator has its frame object from the start, and the locals are its.
            f = _gen_frame(g)
            if f is None:
                return
            others = set(id(x) for x in (f.f_back, f.f_globals, f.f_builtins))
            refs = [v for v in gc.get_referents(f) if id(v) not in others]
        else:
            refs = gc.get_referents(g)
        for v in refs:
            if type(v) is not _T["frame"] and type(v) is not _T["function"]:
                self.add(v, n, kind, None, r)

    def module(self, o, t, n, r):
        groups = []
        for group, kind in (("_parameters", E_PARAM), ("_buffers", E_BUFFER), ("_modules", E_ATTR)):
            try:
                d = object.__getattribute__(o, group)
            except AttributeError:
                continue
            groups.append(d)
            for k, v in list(d.items()):
                if v is not None:
                    if kind == E_ATTR and type(k) is str and k.isdigit():
                        self.add(v, n, E_INDEX, int(k), r)
                    else:
                        self.add(v, n, kind, k, r)
        self.attrs(o, t, n, r, skip=groups)

    def tensor_owner(self, o, n):
        if o.is_cuda:
            s = o.untyped_storage()
            ptr, size = s.data_ptr(), s.nbytes()
            if ptr and ptr not in self.storages:
                dtype = str(o.dtype).replace("torch.", "")
                shape = ", ".join(str(x) for x in o.shape)
                owner = "%s %s[%s]" % (type(o).__name__, dtype, shape)
                device = o.device.index
                self.owner(n, ptr, size, -1 if device is None else device, owner)

    def tensor(self, o, n, r):
        self.attrs(o, type(o), n, r, unnamed=False)
        if o.is_leaf:
            if o.requires_grad:
                g = o.grad
                if g is not None:
                    self.add(g, n, E_GRAD, "grad", r)
        else:
            gf = o.grad_fn
            if gf is not None:
                self.add(gf, n, E_GRAD_FN, "grad_fn", r)

    def array(self, o, t, n):
        for k in type.__dict__["__mro__"].__get__(t):
            d = type.__dict__["__dict__"].__get__(k)
            if "__cuda_array_interface__" in d:
                v = d["__cuda_array_interface__"]
                break
        get = getattr(type(v), "__get__", None)
        cai = get(v, o, t) if get is not None else v
        ptr = int(cai["data"][0])
        if not ptr or ptr in self.storages:
            return
        size = int(cai["typestr"][2:] or 1)
        for x in cai.get("shape", ()):
            size *= int(x)
        self.owner(n, ptr, size, -1, "%s (__cuda_array_interface__)" % t.__qualname__)

    def owner(self, n, ptr, size, device, what):
        self.storages[ptr] = len(self.holders)
        self.holders.append((n, ptr, size, device, what))

    # --- roots -------------------------------------------------------------------------------

    def add_root(self, o, kind, where):
        r = len(self.roots)
        self.roots.append((kind, where))
        i = id(o)
        if i in self.seen:
            return None
        self.seen.add(i)
        self.objs.append(o)
        self.par.append(-1)
        self.kind.append(E_ROOT)
        self.key.append(None)
        self.root.append(r)
        return len(self.objs) - 1, r

    def module_roots(self):
        mods = list(sys.modules.items())
        main = [m for m in mods if m[0] == "__main__"]
        added = []
        # Every module is a root before any global is followed: a package another module
        # imported keeps its own file as the root of what it holds.
        for name, m in main + [m for m in mods if m[0] != "__main__"]:
            if type(m) is not _T["module"]:
                continue
            d = _T["module"].__dict__["__dict__"].__get__(m)
            where = d.get("__file__")
            if not where and name == "__main__":
                # Running a script removes __main__.__file__ once the script has run.
                where = (getattr(sys, "argv", None) or [""])[0]
            got = self.add_root(m, ROOT_GLOBAL, _short(where or name))
            if got is not None:
                added.append((got, d))
        for (n, r), d in added:
            for k, v in list(d.items()):
                self.add(v, n, E_NAME, k, r)

    def frame_roots(self):
        threading = sys.modules.get("threading")
        names = {}
        for tid, th in list(getattr(threading, "_active", {}).items()):
            names[tid] = getattr(th, "_name", None) or str(tid)
        mine = globals()
        for tid, f in list(sys._current_frames().items()):
            chain = []
            while f is not None:
                if f.f_globals is not mine:
                    chain.append(f)
                f = f.f_back
            # Outermost first: a tensor passed down is named as the program's own code calls it
            # (`x` in main), not as a library's function takes it (`input` in linear.py).
            for f in reversed(chain):
                code = f.f_code
                where = "thread %s in %s (%s:%d)" % (names.get(tid, tid), code.co_name,
                                                    _short(code.co_filename), f.f_lineno)
                start = len(self.objs)
                got = self.add_root(f, ROOT_FRAME, where)
                if got is not None:
                    self.frame_locals(f, got[0], got[1], E_NAME)
                    # All a frame reaches is named from it before an inner frame is looked at:
                    # a model its caller holds as `vae` is not named by the layer running as
                    # `self` (Decoder), however much shorter that path is.
                    end = self.bfs(start)
                    if end != COMPLETE:
                        return end
        return COMPLETE

    def generator_roots(self, everything):
        for o in everything:
            if type(o) in _GENS and id(o) not in self.seen and _suspended(o):
                # Where it is paused is asked for only if it holds something (`root_where`).
                got = self.add_root(o, ROOT_GENERATOR, o)
                if got is not None:
                    self.gen_locals(o, got[0], got[1], E_NAME)

    # --- the walk ----------------------------------------------------------------------------

    def run(self):
        """Breadth first from the roots, a kind of root at a time: what module globals keep is
        named from them (a model's weights as `MODEL.encoder.weight`, not as `self.weight` of
        the layer running), then what only frames hold, a frame at a time from the outermost,
        then what only suspended generators hold; within one root (all module globals
        together) the first path found to an owner is a shortest one."""
        self.module_roots()
        end = self.bfs(0)
        if end != COMPLETE:
            return end
        end = self.frame_roots()
        if end != COMPLETE:
            return end
        everything = gc.get_objects()
        try:
            start = len(self.objs)
            self.generator_roots(everything)
            end = self.bfs(start)
            if end != COMPLETE or self.skipped_locals:
                # With running frames' locals unread, an owner no path reached may be one of
                # them: not said to be held from C.
                return end
            for o in everything:
                if id(o) not in self.seen:
                    h = self.handler(type(o))
                    if h == H_TENSOR or h == H_CAI:
                        self.objs.append(o)
                        self.par.append(-1)
                        self.kind.append(E_ROOT)
                        self.key.append(None)
                        self.root.append(-1)
                        self.seen.add(id(o))
                        self.own(o, h, len(self.objs) - 1)
        finally:
            everything.clear()
        return COMPLETE

    def bfs(self, head):
        while True:
            while head < len(self.objs):
                if len(self.objs) >= self.max_objects:
                    return OBJECT_CAP
                if head & 1023 == 0 and _clock_us() >= self.deadline:
                    return TIME_CAP
                try:
                    self.expand(head)
                except Exception:
                    pass
                head += 1
            if not self.keys:
                return COMPLETE
            # Dict keys last: a parameter an optimizer's state is keyed by is named from its
            # model (`MODEL.blocks[1].weight`), not as `OPT.state.keys()[2]`.
            keys, self.keys = self.keys, []
            for k, n, i, r in keys:
                self.add(k, n, E_DICT_KEY, i, r)

def _header(reason, end, started, visited, note):
    return "%d\t%d\t%d\t%d\t%s" % (reason, end, _clock_us() - started, visited, _esc(note))


def _walk(reason, seconds, objects):
    """One walk, its result handed to the hook. Never raises an ordinary exception."""
    started = _clock_us()
    if sys.is_finalizing():
        _emit(_header(reason, UNAVAILABLE, started, 0, "the interpreter was already finalizing"))
        return
    locals_ok = reason != ON_DEMAND or sys.version_info >= (3, 13)
    enabled = gc.isenabled()
    if enabled:
        gc.disable()
    w = None
    try:
        w = _Walk(reason, started + int(seconds * 1e6), objects, locals_ok)
        end = w.run()
        notes = []
        if end == TIME_CAP:
            notes.append("stopped after %.1f s (GPULEAK_HOLDERS_SECONDS): owners not reached "
                         "by then have no path" % seconds)
        elif end == OBJECT_CAP:
            notes.append("stopped after %d objects (GPULEAK_HOLDERS_OBJECTS): owners not "
                         "reached by then have no path" % objects)
        if w.skipped_locals:
            notes.append("locals of running frames not read (on demand, before Python 3.13, "
                         "reading them would keep their values alive): what only they hold has "
                         "no path, and nothing is said to be held from C")
        text = "\n".join([_header(reason, end, started, len(w.objs), "; ".join(notes))] + w.lines())
    except Exception as e:
        text = _header(reason, FAILED, started, len(w.objs) if w is not None else 0,
                       "the walk raised %s: %s" % (type(e).__name__, e))
    finally:
        if w is not None:
            w.close()
        w = None
        if enabled:
            gc.enable()
    _emit(text)


def _at_exit():
    _exit_gate()
    if not sys.is_finalizing():
        _walk(EXIT, _config["seconds"], _config["objects"])


def _setup(seconds, objects):
    import atexit

    _config["seconds"] = seconds
    _config["objects"] = objects
    atexit.register(_at_exit)

# gpuleak's holders walker, part 2 of 3 (see walker_kinds.py): an owner's path, role and
# model, in the program's words.


class _Names:
    """How the paths of owners are written: in the program's words, computed only for the
    few objects on an owner's path (asking an object for its attributes or a generator for its
    frame may give it objects it did not have). Mixed into `_Walk` (walker.py)."""

    def attr_name(self, o, v):
        """The name under which `o` keeps `v`, found by asking for the names its class's code
        uses (what `self.x = ...` stores), its slots, then, on an owner's path only, its dict."""
        t = type(o)
        dicts = self.mro_dicts(t)
        codes = []
        for d in dicts:
            slots = d.get("__slots__", ())
            for n in (slots,) if type(slots) is str else slots:
                desc = d.get(n)
                if type(desc) is _T["member"]:
                    try:
                        if desc.__get__(o, t) is v:
                            return n
                    except AttributeError:
                        pass
            for x in list(d.values()):
                f = getattr(x, "__func__", x) if type(x) in (staticmethod, classmethod) else x
                if type(f) is _T["function"]:
                    codes.append(f.__code__)
                elif type(x) is property:
                    codes.extend(g.__code__ for g in (x.fget, x.fset) if type(g) is _T["function"])
        names, seen = [], set()
        while codes:
            c = codes.pop()
            names.extend(c.co_names)
            codes.extend(k for k in c.co_consts if type(k) is type(c) and id(k) not in seen)
            seen.update(id(k) for k in c.co_consts)
        for name in names:
            if any(name in d for d in dicts):
                continue
            try:
                if object.__getattribute__(o, name) is v:
                    return name
            except Exception:
                pass
        for d in dicts:
            desc = d.get("__dict__")
            if desc is not None:
                if type(desc) is _T["getset"]:
                    for k, x in list(desc.__get__(o, t).items()):
                        if x is v:
                            return k
                break
        return "<attribute>"

    def local_name(self, g, v):
        if self.locals_ok:
            f = _gen_frame(g)
            if f is not None:
                for k, x in list(f.f_locals.items()):
                    if x is v:
                        return k
        return "<local>"

    def root_where(self, where):
        if type(where) is str:
            return where
        code = _gen_code(where)
        f = _gen_frame(where) if self.locals_ok else None
        line = f.f_lineno if f is not None else code.co_firstlineno
        name = getattr(code, "co_qualname", code.co_name)
        return "%s (%s:%d)" % (name, _short(code.co_filename), line)

    # --- the result --------------------------------------------------------------------------

    def chain(self, n):
        out = []
        while n >= 0 and self.kind[n] != E_ROOT:
            out.append(n)
            n = self.par[n]
        out.reverse()
        return out

    def path(self, chain):
        parts = []
        for n in chain:
            k, key = self.kind[n], self.key[n]
            if (k == E_NAME or k == E_LOCAL) and key is None:
                name = self.local_name(self.objs[self.par[n]], self.objs[n])
                parts.append(name if k == E_NAME else ".<locals>.%s" % name)
            elif k == E_NAME:
                parts.append(str(key))
            elif k == E_INDEX:
                parts.append("[%s]" % key)
            elif k == E_KEY:
                held = self.key_chain(key)
                parts.append("[%s]" % (self.path(held) if held else _key_text(key)))
            elif k == E_CLOSURE:
                parts.append(".<closure>.%s" % key)
            elif k == E_LOCAL:
                parts.append(".<locals>.%s" % key)
            elif k == E_REF:
                parts.append(".%s" % key)
            elif k == E_DICT_KEY:
                parts.append(".keys()[%s]" % key)
            elif key is None:
                parts.append(".%s" % self.attr_name(self.objs[self.par[n]], self.objs[n]))
            else:
                parts.append(".%s" % key)
        s = "".join(parts)
        return s[1:] if s.startswith(".") else s

    def role(self, n, chain):
        last = self.kind[n]
        kinds = set(self.kind[c] for c in chain)
        if last == E_GRAD:
            return GRADIENT
        if last == E_PARAM:
            return PARAMETER
        if last == E_BUFFER:
            return BUFFER
        if E_OPT_STATE in kinds:
            return OPTIMIZER_STATE
        if E_GRAD_FN in kinds:
            return AUTOGRAD
        if self.Parameter is not None and self.Parameter in type(self.objs[n]).__mro__:
            return PARAMETER
        return USER_HELD

    def key_chain(self, key):
        """A dict key that is a tensor with a path of its own (an optimizer's state is keyed by
        parameters): that path, so that it reads `OPT.state[MODEL[0].weight]['exp_avg']`."""
        if self.Tensor is None or self.Tensor not in type(key).__mro__ or not key.is_cuda:
            return None
        h = self.storages.get(key.untyped_storage().data_ptr())
        if h is None:
            return None
        n = self.holders[h][0]
        chain = self.chain(n) if self.root[n] >= 0 else None
        # A key's own path never goes through itself as a key: no loop.
        if chain and all(self.kind[c] != E_KEY or self.key[c] is not key for c in chain):
            return chain
        return None

    def model(self, chain):
        if self.Module is None:
            return ""
        for c in chain:
            if self.kind[c] == E_KEY:
                held = self.key_chain(self.key[c])
                if held:
                    # Optimizer state: the model of the parameter it is kept for.
                    return self.model(held)
        for i, c in enumerate(chain):
            o = self.objs[c]
            if self.Module in type.__dict__["__mro__"].__get__(type(o)):
                return "%s (%s)" % (self.path(chain[:i + 1]), type(o).__name__)
        return ""

    def lines(self):
        out = []
        for n, ptr, size, device, what in self.holders:
            r = self.root[n]
            if r < 0:
                role, kind, where, path, model = FROM_C, ROOT_NONE, "", "", ""
            else:
                chain = self.chain(n)
                kind, where = self.roots[r]
                where = self.root_where(where)
                path = self.path(chain)
                role = self.role(n, chain)
                owned = role in (PARAMETER, BUFFER, GRADIENT, OPTIMIZER_STATE)
                model = self.model(chain) if owned else ""
            out.append("\t".join((str(device), str(ptr), str(size), str(role), str(kind),
                                  _esc(where), _esc(path), _esc(what), _esc(model))))
        return out

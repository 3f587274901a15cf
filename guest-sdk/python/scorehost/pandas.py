"""A small stand-in for pandas inside a Wasm component.

pandas needs numpy, which cannot be bundled (see `scorehost.numpy`). This module offers what
entry scripts in the Azure ML style do with a `DataFrame`: build a sample from a dict of
columns, and read the frame `run` receives: `df["col"]`, `df.columns`, `df.dtypes`,
`len(df)`, `df.shape`, `iterrows()`, `to_dict(orient=...)`. Columns are `Series` of Python
values with a numpy-style dtype.

Write `from scorehost import pandas as pd` where the script had `import pandas as pd`.
"""

from . import numpy as _np

__all__ = ["DataFrame", "Series"]


class Series:
    """One column: a list of Python values with a name and a dtype."""

    __slots__ = ("_values", "name", "dtype")

    def __init__(self, data=None, name=None, dtype=None):
        values = list(data) if data is not None else []
        arr = _np.array(values, dtype=dtype) if values or dtype is not None else None
        self._values = _np._elements(arr) if arr is not None else []
        self.dtype = arr.dtype if arr is not None else _np.dtype("float64")
        self.name = name

    @classmethod
    def _of(cls, values, name, dtype):
        series = cls.__new__(cls)
        series._values = values
        series.name = name
        series.dtype = dtype
        return series

    @property
    def values(self):
        """The column as a 1-D `ndarray`."""
        return _np.ndarray(list(self._values), (len(self._values),), self.dtype)

    def to_numpy(self):
        """The column as a 1-D `ndarray`."""
        return self.values

    def tolist(self):
        """The values as a Python list."""
        return list(self._values)

    to_list = tolist

    def __len__(self):
        return len(self._values)

    def __iter__(self):
        return iter(self._values)

    def __getitem__(self, index):
        return self._values[index]

    def __repr__(self):
        return f"Series({self._values!r}, name={self.name!r}, dtype={self.dtype.name})"


class DataFrame:
    """A table of equally long, named columns, in order."""

    __slots__ = ("_columns",)

    def __init__(self, data=None, columns=None):
        """`data` is a dict of column name -> values, or a list of row dicts (records)."""
        self._columns = {}
        if data is None:
            data = {}
        if isinstance(data, list):
            names = columns or _record_keys(data)
            data = {name: [row.get(name) for row in data] for name in names}
        elif columns is not None:
            data = {name: data[name] for name in columns}
        for name, values in data.items():
            series = values if isinstance(values, Series) else Series(values, name=name)
            series.name = name
            self._columns[name] = series
        lengths = {len(s) for s in self._columns.values()}
        if len(lengths) > 1:
            raise ValueError("all columns must have the same length")

    @classmethod
    def _of_columns(cls, columns):
        """A frame from already typed `Series` (for the SDK's codecs)."""
        frame = cls.__new__(cls)
        frame._columns = {s.name: s for s in columns}
        return frame

    @property
    def columns(self):
        """The column names, in order."""
        return list(self._columns)

    @property
    def dtypes(self):
        """The column dtypes, in column order."""
        return [s.dtype for s in self._columns.values()]

    @property
    def shape(self):
        """(rows, columns)."""
        return (len(self), len(self._columns))

    def __len__(self):
        for series in self._columns.values():
            return len(series)
        return 0

    def __iter__(self):
        return iter(self._columns)

    def __contains__(self, name):
        return name in self._columns

    def __getitem__(self, name):
        try:
            return self._columns[name]
        except KeyError:
            raise KeyError(name) from None

    def iterrows(self):
        """(row number, {column: value}) pairs."""
        names = list(self._columns)
        for i, row in enumerate(zip(*(s._values for s in self._columns.values()))):
            yield i, dict(zip(names, row))

    def to_dict(self, orient="dict"):
        """The frame as Python data: `dict` ({col: {row: v}}), `list`, `records` or `split`."""
        names = list(self._columns)
        if orient == "records":
            return [row for _, row in self.iterrows()]
        if orient == "list":
            return {n: s.tolist() for n, s in self._columns.items()}
        if orient == "dict":
            return {n: dict(enumerate(s._values)) for n, s in self._columns.items()}
        if orient == "split":
            return {
                "index": list(range(len(self))),
                "columns": names,
                "data": [list(row.values()) for _, row in self.iterrows()],
            }
        raise ValueError(f"orient {orient!r} not understood")

    def __repr__(self):
        return f"DataFrame({self.to_dict('list')!r})"


def _record_keys(rows):
    names = []
    for row in rows:
        for key in row:
            if key not in names:
                names.append(key)
    return names

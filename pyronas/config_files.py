"""The packaged configs: ``pyronas search --config drnas_nb201_fmnist`` finds a config by name, ``pyronas configs``
lists them.

The YAML files of the repository's ``configs/`` folder ship in the wheel as ``pyronas/configs/*.yaml`` (package
data, ``pyproject.toml``); in a source checkout (editable install) they are read from ``configs/`` beside the
package. A config's one-line description is the first comment line of its file.
"""

from __future__ import annotations

from pathlib import Path

from pyronas.errors import ConfigError

__all__ = ["config_dir", "describe", "find_packaged", "listing", "packaged_configs", "resolve_config"]

SUFFIX = ".yaml"


def config_dir() -> Path | None:
    """The folder of the packaged configs: ``pyronas/configs`` in an installed wheel, else the checkout's
    ``configs/`` (None when neither exists)."""
    package = Path(__file__).resolve().parent
    for folder in (package / "configs", package.parent / "configs"):
        if folder.is_dir() and any(folder.glob(f"*{SUFFIX}")):
            return folder
    return None


def packaged_configs() -> dict[str, Path]:
    """Every packaged config by name (the file name without ``.yaml``), sorted by name."""
    folder = config_dir()
    if folder is None:
        return {}
    return {p.stem: p for p in sorted(folder.glob(f"*{SUFFIX}"))}


def describe(path: str | Path) -> str:
    """The first comment line of a YAML file (without ``#``; `` …`` added when its sentence goes on in the next
    comment line), or ``""`` when the file starts without one."""
    lines = [line.strip() for line in Path(path).read_text().splitlines() if line.strip()]
    if not lines or not lines[0].startswith("#"):
        return ""
    first = lines[0].lstrip("#").strip()
    goes_on = len(lines) > 1 and lines[1].startswith("#") and not first.endswith((".", ")", ":"))
    return f"{first} …" if goes_on else first


def find_packaged(value: str | Path) -> Path | None:
    """The packaged config ``value`` names when it is not an existing file (``drnas_nb201_fmnist``,
    ``drnas_nb201_fmnist.yaml`` or the checkout's spelling ``configs/<name>.yaml``), else None."""
    path = Path(value)
    if path.is_file() or str(path.parent) not in (".", "configs"):
        return None
    return packaged_configs().get(path.name.removesuffix(SUFFIX))


def resolve_config(value: str | Path, key: str = "--config") -> Path:
    """The config file ``value`` names: an existing file as given, else the packaged config of that name
    (see ``find_packaged``). ``ConfigError`` naming ``key`` when it is neither."""
    path = Path(value)
    if path.is_file():
        return path
    packaged = find_packaged(path)
    if packaged is not None:
        return packaged
    name = path.name.removesuffix(SUFFIX)
    found = packaged_configs()
    close = [n for n in found if name and (name in n or n in name)][:5]
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise ConfigError(f"{key}: {value} is neither a config file nor a packaged config "
                      f"(`pyronas configs` lists the {len(found)} packaged ones){hint}")


def listing() -> str:
    """One line per packaged config: its name and its description (``pyronas configs``)."""
    found = packaged_configs()
    if not found:
        return "no packaged configs found"
    width = max(len(n) for n in found)
    return "\n".join(f"{name:<{width}}  {describe(path)}" for name, path in found.items())

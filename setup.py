"""What setup.cfg cannot say: sql/ stays at the top of the repository (migrations, named queries, psql scripts),
and ships inside the package as l2i/_sql, in the wheel and in the sdist, so an installed l2i finds it
(l2i/sql.py looks there first, then in the source tree). Everything else is in setup.cfg."""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["l2i", "l2i.*"]) + ["l2i._sql"],
    package_dir={"l2i._sql": "sql"},
    package_data={"l2i._sql": ["*.sql", "migrations/*.sql", "queries/*.sql", "admin/*.sql", "admin/*.md"]},
)

"""Typed dependencies that hand routes the services and the request's site.

They are `async def` because they only read request state: sync dependencies would each take a
trip through the thread pool.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from forkable.db import Database
from forkable.services import Services
from forkable.settings import Settings
from forkable.sites import Site


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def get_site(request: Request) -> Site:
    site: Site | None = request.state.site
    if site is None:
        raise HTTPException(status_code=404, detail="No site is served at this host name.")
    return site


async def get_settings(services: Annotated[Services, Depends(get_services)]) -> Settings:
    return services.settings


async def get_database(services: Annotated[Services, Depends(get_services)]) -> Database:
    return services.database


ServicesDep = Annotated[Services, Depends(get_services)]
SiteDep = Annotated[Site, Depends(get_site)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
DatabaseDep = Annotated[Database, Depends(get_database)]

"""Skill environments: the packages a skill declares, installed for it (DESIGN §3.6).

``requirements`` (what a skill declares), ``installer`` (uv or pip), ``manager`` (the
folders under ``<data_dir>/envs``), ``imports`` (``skills check``), ``modules`` (which
package provides a module). Nothing is imported here: the zygote imports ``modules`` alone
and must not pay for the rest.
"""

"""dlbs.engine"""

"""Settings split by environment: dev, prod and test build on base.

Pick one with DJANGO_SETTINGS_MODULE (manage.py defaults to dev, the image to prod).
"""

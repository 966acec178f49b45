"""Bootstrap uncertainties of the mean Cepheid period in each SN Ia host galaxy."""
